//! `accepted deploy-parameters`: the stack parameters a declaration file implies, for
//! `sam deploy --parameter-overrides`. CloudFormation cannot read the file, so the template
//! takes what follows from it as parameters: the functions the worker may invoke
//! (`JobTypeFunctionArns`, the only `lambda:InvokeFunction` grant) and the worker's timeout
//! (`WorkerTimeoutSeconds`, which also sets the queue's visibility).

use std::process::ExitCode;
use std::time::Duration;

use accepted_core::declared::{self, DeclaredType};

use crate::cli::DeployParametersArgs;

/// The values `WorkerTimeoutSeconds` allows (template.yaml; a test holds the two together).
pub const WORKER_TIMEOUTS: [u64; 6] = [30, 60, 120, 300, 600, 900];
/// What the worker needs beyond a type's time limit: its own start, the batch's
/// bookkeeping and the 2 s it keeps back before its deadline.
pub const TIMEOUT_MARGIN: Duration = Duration::from_secs(10);

/// Where a function name becomes an ARN.
pub struct Account<'a> {
    pub partition: &'a str,
    pub region: Option<&'a str>,
    pub account_id: Option<&'a str>,
}

pub fn run(args: &DeployParametersArgs) -> ExitCode {
    let account = Account {
        partition: &args.partition,
        region: args.region.as_deref(),
        account_id: args.account_id.as_deref(),
    };
    let parameters = declared::load(&args.job_types)
        .map_err(|e| e.to_string())
        .and_then(|types| parameters(&types, &account));
    match parameters {
        Ok(parameters) => {
            println!("{}", parameters.join(" "));
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("accepted: {}: {reason}", args.job_types.display());
            ExitCode::FAILURE
        }
    }
}

/// `Name=value` pairs: the worker's timeout, and the functions' ARNs when there are any.
pub fn parameters(types: &[DeclaredType], account: &Account) -> Result<Vec<String>, String> {
    let mut arns = Vec::new();
    for declared in types {
        let function = declared::lambda_function(declared)
            .map_err(|reason| format!("job type {:?}: {reason}", declared.name))?;
        let arn = arn(function, account)
            .map_err(|reason| format!("job type {:?}: {reason}", declared.name))?;
        if !arns.contains(&arn) {
            arns.push(arn);
        }
    }
    let longest = types.iter().map(|t| t.time_limit).max().unwrap_or_default();
    let timeout = WORKER_TIMEOUTS
        .into_iter()
        .find(|&t| Duration::from_secs(t) >= longest + TIMEOUT_MARGIN)
        .ok_or_else(|| {
            format!(
                "the longest time limit, {} s, leaves the worker no {} s margin under Lambda's 900 s",
                longest.as_secs(),
                TIMEOUT_MARGIN.as_secs()
            )
        })?;
    let mut parameters = vec![format!("WorkerTimeoutSeconds={timeout}")];
    if !arns.is_empty() {
        parameters.push(format!("JobTypeFunctionArns={}", arns.join(",")));
    }
    Ok(parameters)
}

/// The ARN the worker invokes `function` (a name, `name:qualifier`, or an ARN) by.
fn arn(function: &str, account: &Account) -> Result<String, String> {
    if function.starts_with("arn:") {
        return Ok(function.to_owned());
    }
    match (account.region, account.account_id) {
        (Some(region), Some(account_id)) => Ok(format!(
            "arn:{}:lambda:{region}:{account_id}:function:{function}",
            account.partition
        )),
        _ => Err(format!(
            "run.lambda {function:?} is a name: give --region and --account-id to make it an ARN, or declare the ARN"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn declared(yaml: &str) -> Vec<DeclaredType> {
        let dir = tempfile::tempdir().expect("a dir");
        let file = dir.path().join("job-types.yaml");
        std::fs::write(&file, yaml).expect("written");
        declared::load(&file).expect("valid")
    }

    const ACCOUNT: Account = Account {
        partition: "aws",
        region: Some("eu-west-1"),
        account_id: Some("111122223333"),
    };

    #[test]
    fn the_worker_may_invoke_exactly_the_declared_functions_and_outlasts_the_longest_type() {
        let types = declared(
            "version: 1
types:
  - {name: a.one, input_schema: {}, time_limit_seconds: 45, run: {lambda: one}}
  - {name: a.two, input_schema: {}, time_limit_seconds: 5, run: {lambda: 'two:live'}}
  - {name: a.three, input_schema: {}, time_limit_seconds: 5,
     run: {lambda: 'arn:aws:lambda:us-east-1:444455556666:function:three', command: [x]}}
  - {name: a.again, input_schema: {}, time_limit_seconds: 1, run: {lambda: one}}
",
        );
        assert_eq!(
            parameters(&types, &ACCOUNT),
            Ok(vec![
                "WorkerTimeoutSeconds=60".to_owned(),
                "JobTypeFunctionArns=arn:aws:lambda:eu-west-1:111122223333:function:one,\
                 arn:aws:lambda:eu-west-1:111122223333:function:two:live,\
                 arn:aws:lambda:us-east-1:444455556666:function:three"
                    .to_owned()
            ])
        );
        assert_eq!(
            parameters(&[], &ACCOUNT),
            Ok(vec!["WorkerTimeoutSeconds=30".to_owned()])
        );
    }

    #[test]
    fn what_cannot_deploy_is_refused_with_the_type() {
        let local = declared(
            "version: 1
types: [{name: a.local, input_schema: {}, time_limit_seconds: 5, run: {command: [x]}}]
",
        );
        let refused = parameters(&local, &ACCOUNT).expect_err("no function");
        assert!(
            refused.contains("\"a.local\": runs only under accepted serve"),
            "{refused}"
        );
        let named = declared(
            "version: 1
types: [{name: a.named, input_schema: {}, time_limit_seconds: 5, run: {lambda: f}}]
",
        );
        let no_account = Account {
            account_id: None,
            ..ACCOUNT
        };
        let refused = parameters(&named, &no_account).expect_err("a name needs an account");
        assert!(refused.contains("--account-id"), "{refused}");
        let long = declared(
            "version: 1
types: [{name: a.long, input_schema: {}, time_limit_seconds: 895, run: {lambda: f}}]
",
        );
        let refused = parameters(&long, &ACCOUNT).expect_err("too long for Lambda");
        assert!(refused.contains("895 s"), "{refused}");
    }

    #[test]
    fn the_timeouts_are_the_templates() {
        let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        let text = std::fs::read_to_string(template).expect("template.yaml");
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
        let allowed: Vec<u64> = doc["Parameters"]["WorkerTimeoutSeconds"]["AllowedValues"]
            .as_sequence()
            .expect("AllowedValues")
            .iter()
            .filter_map(serde_yaml::Value::as_u64)
            .collect();
        assert_eq!(allowed, WORKER_TIMEOUTS);
        for timeout in WORKER_TIMEOUTS {
            let visibility =
                &doc["Mappings"]["WorkerTimeouts"][timeout.to_string().as_str()]["QueueVisibility"];
            assert_eq!(visibility.as_u64(), Some(6 * timeout), "{timeout}");
        }
    }
}
