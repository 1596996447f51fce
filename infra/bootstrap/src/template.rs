//! Reading `template.yaml`: resources by type, and CloudFormation intrinsics resolved against
//! what the bootstrap created (`!Ref`, `!GetAtt`, `!Sub`, `!FindInMap`, parameter defaults).

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::{Mapping, Value};

use crate::BootstrapError;

pub struct Template {
    doc: Value,
}

/// What a logical id resolves to once its resource exists.
#[derive(Debug, Clone, Default)]
pub struct Physical {
    /// `Ref`: a table's name, a queue's URL.
    pub reference: String,
    /// `GetAtt` attributes: `Arn`, `QueueName`, ...
    pub attributes: BTreeMap<String, String>,
}

pub type Resolved = BTreeMap<String, Physical>;

impl Template {
    pub fn load(path: &Path) -> Result<Self, BootstrapError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BootstrapError::Template(format!("{}: {e}", path.display())))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, BootstrapError> {
        let doc: Value =
            serde_yaml::from_str(text).map_err(|e| BootstrapError::Template(e.to_string()))?;
        Ok(Self { doc })
    }

    /// `(logical id, Properties)` of every resource of `resource_type`, in file order.
    pub fn resources_of_type(&self, resource_type: &str) -> Vec<(String, Mapping)> {
        let Some(resources) = self.doc.get("Resources").and_then(Value::as_mapping) else {
            return Vec::new();
        };
        resources
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(resource_type))
            .filter_map(|(id, r)| {
                let props = r.get("Properties").and_then(Value::as_mapping).cloned();
                Some((id.as_str()?.to_owned(), props.unwrap_or_default()))
            })
            .collect()
    }

    fn parameter_default(&self, name: &str) -> Option<String> {
        let default = self.doc.get("Parameters")?.get(name)?.get("Default")?;
        scalar_to_string(default)
    }

    /// Resolves a property value to a string: a scalar, or an intrinsic function over
    /// parameters, pseudo parameters and created resources.
    pub fn resolve(
        &self,
        value: &Value,
        resolved: &Resolved,
        prefix: &str,
    ) -> Result<String, BootstrapError> {
        if let Some(s) = scalar_to_string(value) {
            return Ok(s);
        }
        let (function, arg) = intrinsic(value)
            .ok_or_else(|| BootstrapError::Template(format!("cannot resolve {value:?}")))?;
        let unresolvable =
            || BootstrapError::Template(format!("cannot resolve {function} {arg:?}"));
        match function.as_str() {
            "Ref" => {
                let name = arg.as_str().ok_or_else(unresolvable)?;
                self.reference(name, resolved, prefix)
                    .ok_or_else(unresolvable)
            }
            "GetAtt" => {
                let (id, attr) = match &arg {
                    Value::String(s) => s.split_once('.').ok_or_else(unresolvable)?,
                    Value::Sequence(parts) if parts.len() == 2 => (
                        parts[0].as_str().ok_or_else(unresolvable)?,
                        parts[1].as_str().ok_or_else(unresolvable)?,
                    ),
                    _ => return Err(unresolvable()),
                };
                resolved
                    .get(id)
                    .and_then(|p| p.attributes.get(attr))
                    .cloned()
                    .ok_or_else(unresolvable)
            }
            "Sub" => {
                let pattern = arg.as_str().ok_or_else(unresolvable)?;
                self.substitute(pattern, resolved, prefix)
                    .ok_or_else(unresolvable)
            }
            "FindInMap" => {
                let Value::Sequence(keys) = &arg else {
                    return Err(unresolvable());
                };
                let [map, top, second] = keys.as_slice() else {
                    return Err(unresolvable());
                };
                let (map, top, second) = (
                    self.resolve(map, resolved, prefix)?,
                    self.resolve(top, resolved, prefix)?,
                    self.resolve(second, resolved, prefix)?,
                );
                self.doc
                    .get("Mappings")
                    .and_then(|m| m.get(map.as_str()))
                    .and_then(|m| m.get(top.as_str()))
                    .and_then(|m| m.get(second.as_str()))
                    .and_then(scalar_to_string)
                    .ok_or_else(unresolvable)
            }
            _ => Err(unresolvable()),
        }
    }

    fn reference(&self, name: &str, resolved: &Resolved, prefix: &str) -> Option<String> {
        match name {
            "AWS::StackName" => Some(prefix.to_owned()),
            "AWS::Region" => {
                Some(std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()))
            }
            "AWS::URLSuffix" => Some("amazonaws.com".to_owned()),
            "AWS::AccountId" => Some("123456789012".to_owned()),
            _ => resolved
                .get(name)
                .map(|p| p.reference.clone())
                .or_else(|| self.parameter_default(name)),
        }
    }

    fn substitute(&self, pattern: &str, resolved: &Resolved, prefix: &str) -> Option<String> {
        let mut out = String::new();
        let mut rest = pattern;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}')? + start;
            let name = &rest[start + 2..end];
            let value = match name.split_once('.') {
                Some((id, attr)) => resolved.get(id)?.attributes.get(attr)?.clone(),
                None => self.reference(name, resolved, prefix)?,
            };
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }

    /// Environment variables the template gives its functions (`Globals` merged with every
    /// function's own), resolved; variables naming resources that were not created are left out.
    pub fn function_environment(
        &self,
        resolved: &Resolved,
        prefix: &str,
    ) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        let mut add = |vars: Option<&Value>| {
            for (k, v) in vars.and_then(Value::as_mapping).into_iter().flatten() {
                if let (Some(k), Ok(v)) = (k.as_str(), self.resolve(v, resolved, prefix)) {
                    env.insert(k.to_owned(), v);
                }
            }
        };
        let globals = self.doc.get("Globals").and_then(|g| g.get("Function"));
        add(globals
            .and_then(|f| f.get("Environment"))
            .and_then(|e| e.get("Variables")));
        for (_, props) in self.resources_of_type("AWS::Serverless::Function") {
            add(props.get("Environment").and_then(|e| e.get("Variables")));
        }
        env
    }

    /// The template's `Outputs` that resolve against what was created.
    pub fn outputs(&self, resolved: &Resolved, prefix: &str) -> BTreeMap<String, String> {
        let outputs = self.doc.get("Outputs").and_then(Value::as_mapping);
        outputs
            .into_iter()
            .flatten()
            .filter_map(|(k, o)| {
                let value = self.resolve(o.get("Value")?, resolved, prefix).ok()?;
                Some((k.as_str()?.to_owned(), value))
            })
            .collect()
    }
}

/// `!Ref x` (a YAML tag) or `{Ref: x}` / `{"Fn::GetAtt": ...}` (the long form).
fn intrinsic(value: &Value) -> Option<(String, Value)> {
    match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            Some((tag.trim_start_matches('!').to_owned(), tagged.value.clone()))
        }
        Value::Mapping(m) if m.len() == 1 => {
            let (k, v) = m.iter().next()?;
            let name = k.as_str()?;
            let function = name.strip_prefix("Fn::").unwrap_or(name);
            Some((function.to_owned(), v.clone()))
        }
        _ => None,
    }
}

pub fn scalar_to_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  Count: {Type: Number, Default: 5}
  Size: {Type: Number, Default: 30}
Mappings:
  Sizes:
    "30": {Doubled: 60}
Globals:
  Function:
    Environment:
      Variables:
        TABLE: !Ref Jobs
        COUNT: !Ref Count
        DOUBLED: !FindInMap [Sizes, !Ref Size, Doubled]
Resources:
  Jobs: {Type: AWS::DynamoDB::Table, Properties: {BillingMode: PAY_PER_REQUEST}}
  Queue: {Type: AWS::SQS::Queue}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {QUEUE: {Ref: Queue}, ARN: !GetAtt Queue.Arn, API: !Ref HttpApi}}
Outputs:
  Name: {Value: !Sub "${AWS::StackName}-x-${Queue.Arn}"}
"#;

    #[test]
    fn resolves_refs_attributes_parameters_maps_and_subs() {
        let t = Template::parse(TEMPLATE).unwrap();
        assert_eq!(t.resources_of_type("AWS::SQS::Queue").len(), 1);
        let mut resolved = Resolved::new();
        resolved.insert(
            "Jobs".into(),
            Physical {
                reference: "p-Jobs".into(),
                ..Default::default()
            },
        );
        resolved.insert(
            "Queue".into(),
            Physical {
                reference: "http://q".into(),
                attributes: BTreeMap::from([("Arn".into(), "arn:q".into())]),
            },
        );
        let env = t.function_environment(&resolved, "p");
        let expected: BTreeMap<String, String> = [
            ("ARN", "arn:q"),
            ("COUNT", "5"),
            ("DOUBLED", "60"),
            ("QUEUE", "http://q"),
            ("TABLE", "p-Jobs"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(
            env, expected,
            "API names an uncreated resource and is left out"
        );
        assert_eq!(t.outputs(&resolved, "p")["Name"], "p-x-arn:q");
    }
}
