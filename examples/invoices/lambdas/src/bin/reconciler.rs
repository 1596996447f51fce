//! The `reconciler` function: accepted's own, unchanged. `template.yaml` builds every function
//! from this package, so the deployment names all seven binaries.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    accepted_reconciler::run().await
}
