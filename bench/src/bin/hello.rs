//! The floor: a `lambda_runtime` function that answers its event, and nothing else.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

// Built as the functions are: one thread.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(event.payload)
    }))
    .await
}
