//! The registry: the job types one deployment runs, each with its schemas compiled.
//!
//! The deployer builds it once and hands the same one to every entry point (submit, worker,
//! the local server, the tests), so they can never disagree about which types exist or what
//! input each accepts. [`JobRegistry::validate`] is the whole submit-time check of a job's
//! input, so a unit test of a type sees exactly what a client would.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use thiserror::Error;

use crate::field::FieldError;
use crate::handler::JobHandler;
use crate::schema::{Schema, SchemaError};

/// A type that cannot be registered.
#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("job type {job_type:?}: its {which} schema is {source}")]
    Schema {
        job_type: String,
        which: &'static str,
        #[source]
        source: SchemaError,
    },
    #[error("job type {0:?} is registered twice")]
    Duplicate(String),
    #[error("job type name {0:?} must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter")]
    BadName(String),
}

/// Why an input was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No type of that name is registered.
    UnknownType,
    /// The type refused it; every problem, with its pointer.
    Invalid(Vec<FieldError>),
}

/// One registered type.
#[derive(Clone)]
pub struct RegisteredType {
    handler: Arc<dyn JobHandler>,
    input_schema: Option<Arc<Schema>>,
    result_schema: Option<Arc<Schema>>,
}

impl RegisteredType {
    pub fn handler(&self) -> &Arc<dyn JobHandler> {
        &self.handler
    }

    pub fn input_schema(&self) -> Option<&Value> {
        self.input_schema.as_deref().map(Schema::source)
    }

    pub fn result_schema(&self) -> Option<&Value> {
        self.result_schema.as_deref().map(Schema::source)
    }
}

/// The job types a deployment knows, keyed by type name.
#[derive(Clone, Default)]
pub struct JobRegistry {
    types: BTreeMap<String, RegisteredType>,
}

impl JobRegistry {
    /// Adds a job type; a later type of the same name replaces an earlier one.
    ///
    /// # Panics
    ///
    /// If the type's name or one of its schemas is invalid: that is a defect of the type's
    /// code, found by its first test. Types read from configuration go through
    /// [`JobRegistry::try_with`].
    pub fn with(self, handler: impl JobHandler) -> Self {
        let mut registry = self;
        if let Err(err) = registry.insert(Arc::new(handler), true) {
            panic!("{err}");
        }
        registry
    }

    /// Adds a job type, refusing an invalid name or schema, or a name already registered.
    pub fn try_with(mut self, handler: Arc<dyn JobHandler>) -> Result<Self, RegistryError> {
        self.insert(handler, false)?;
        Ok(self)
    }

    fn insert(&mut self, handler: Arc<dyn JobHandler>, replace: bool) -> Result<(), RegistryError> {
        let name = handler.job_type().to_owned();
        if !valid_name(&name) {
            return Err(RegistryError::BadName(name));
        }
        if !replace && self.types.contains_key(&name) {
            return Err(RegistryError::Duplicate(name));
        }
        let compile = |which, schema: Option<Value>| {
            schema
                .map(|source| {
                    Schema::compile(source)
                        .map(Arc::new)
                        .map_err(|source| RegistryError::Schema {
                            job_type: name.clone(),
                            which,
                            source,
                        })
                })
                .transpose()
        };
        let input_schema = compile("input", handler.input_schema())?;
        let result_schema = compile("result", handler.result_schema())?;
        self.types.insert(
            name,
            RegisteredType {
                handler,
                input_schema,
                result_schema,
            },
        );
        Ok(())
    }

    /// The handler of `job_type`, if this deployment runs it.
    pub fn get(&self, job_type: &str) -> Option<Arc<dyn JobHandler>> {
        self.types.get(job_type).map(|t| Arc::clone(&t.handler))
    }

    /// The registered type of that name, with its compiled schemas.
    pub fn registered(&self, job_type: &str) -> Option<&RegisteredType> {
        self.types.get(job_type)
    }

    /// The type names, in order.
    pub fn types(&self) -> impl Iterator<Item = &str> + '_ {
        self.types.keys().map(String::as_str)
    }

    /// Every registered type, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &RegisteredType> + '_ {
        self.types.values()
    }

    /// The submit-time check of a job's input: its type's schema, then the type's own
    /// [`JobHandler::validate`] (only once the schema passed, so it sees the shape it
    /// declared). Pointers start with `/input`.
    pub fn validate(&self, job_type: &str, input: &Value) -> Result<(), Refusal> {
        let registered = self.types.get(job_type).ok_or(Refusal::UnknownType)?;
        if let Some(schema) = &registered.input_schema {
            schema.check(input, "/input").map_err(Refusal::Invalid)?;
        }
        registered.handler.validate(input).map_err(Refusal::Invalid)
    }

    /// Checks a result against its type's result schema (if any). Pointers start with
    /// `/result`.
    pub fn check_result(&self, job_type: &str, result: &Value) -> Result<(), Vec<FieldError>> {
        match self
            .types
            .get(job_type)
            .and_then(|t| t.result_schema.as_ref())
        {
            Some(schema) => schema.check(result, "/result"),
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for JobRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.types()).finish()
    }
}

/// Names appear in URLs, metrics dimensions and logs: keep them plain.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    (1..=64).contains(&name.len())
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{async_trait, JobContext, JobFailure};
    use serde_json::json;

    struct Typed {
        name: &'static str,
        schema: Value,
    }

    #[async_trait]
    impl JobHandler for Typed {
        fn job_type(&self) -> &str {
            self.name
        }

        fn input_schema(&self) -> Option<Value> {
            Some(self.schema.clone())
        }

        fn result_schema(&self) -> Option<Value> {
            Some(json!({"type": "object", "required": ["ok"]}))
        }

        fn validate(&self, input: &Value) -> Result<(), Vec<FieldError>> {
            // Runs only once the schema passed, so `n` is an integer here.
            match input["n"].as_i64() {
                Some(n) if n % 2 == 1 => Err(vec![FieldError::new("/input/n", "must be even")]),
                _ => Ok(()),
            }
        }

        async fn run(&self, _ctx: &JobContext, _input: &Value) -> Result<Value, JobFailure> {
            Ok(json!({"ok": true}))
        }
    }

    fn typed(name: &'static str) -> Typed {
        Typed {
            name,
            schema: json!({"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}),
        }
    }

    #[test]
    fn the_schema_runs_before_the_types_own_check() {
        let registry = JobRegistry::default().with(typed("math.even"));
        assert_eq!(registry.validate("math.even", &json!({"n": 2})), Ok(()));
        let schema_refusal = registry.validate("math.even", &json!({"n": "two"}));
        assert_eq!(
            schema_refusal,
            Err(Refusal::Invalid(vec![FieldError::new(
                "/input/n",
                r#"value is not of type "integer""#
            )]))
        );
        let own_refusal = registry.validate("math.even", &json!({"n": 3}));
        assert_eq!(
            own_refusal,
            Err(Refusal::Invalid(vec![FieldError::new(
                "/input/n",
                "must be even"
            )]))
        );
        assert_eq!(
            registry.validate("math.odd", &json!({})),
            Err(Refusal::UnknownType)
        );
    }

    #[test]
    fn results_are_held_to_the_result_schema() {
        let registry = JobRegistry::default().with(typed("math.even"));
        assert!(registry
            .check_result("math.even", &json!({"ok": 1}))
            .is_ok());
        let refused = registry
            .check_result("math.even", &json!({}))
            .expect_err("refused");
        assert_eq!(refused[0].pointer, "/result/ok");
    }

    #[test]
    fn bad_names_bad_schemas_and_duplicates_are_refused() {
        let bad_schema = Typed {
            name: "math.bad",
            schema: json!({"type": 7}),
        };
        let err = JobRegistry::default()
            .try_with(Arc::new(bad_schema))
            .expect_err("refused");
        assert!(
            err.to_string()
                .starts_with(r#"job type "math.bad": its input schema is not a usable"#),
            "{err}"
        );
        for name in ["", "Math.even", "9lives", "a b", &"x".repeat(65)] {
            let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
            assert!(matches!(
                JobRegistry::default().try_with(Arc::new(typed(leaked))),
                Err(RegistryError::BadName(_))
            ));
        }
        let twice = JobRegistry::default()
            .try_with(Arc::new(typed("math.even")))
            .and_then(|r| r.try_with(Arc::new(typed("math.even"))));
        assert!(matches!(twice, Err(RegistryError::Duplicate(_))));
    }

    #[test]
    #[should_panic(expected = "its input schema")]
    fn with_panics_on_a_schema_that_does_not_compile() {
        let _ = JobRegistry::default().with(Typed {
            name: "math.bad",
            schema: json!({"minimum": "one"}),
        });
    }
}
