//! A DynamoDB where the job holding a keyed id always vanishes between a refused put and the
//! read of it, as when TTL deletes an expired job at that moment, on every attempt: an SDK
//! interceptor answers every `PutItem` with a refusal that carries no item, and every
//! `GetItem` with no item. The put itself still reaches the emulator, so the first one does
//! take effect, as the other request's would.

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    Error, FinalizerInterceptorContextMut, Output,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug, Clone, Copy, Default)]
pub struct HolderAlwaysVanishes;

impl Intercept for HolderAlwaysVanishes {
    fn name(&self) -> &'static str {
        "HolderAlwaysVanishes"
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map(|m| m.name().to_owned());
        let Some(result) = context.output_or_error_mut() else {
            return Ok(());
        };
        match operation.as_deref() {
            Some("PutItem") => {
                let refused = ConditionalCheckFailedException::builder()
                    .message("The conditional request failed")
                    .build();
                *result = Err(OrchestratorError::operation(Error::erase(
                    PutItemError::ConditionalCheckFailedException(refused),
                )));
            }
            Some("GetItem") if result.is_ok() => {
                *result = Ok(Output::erase(GetItemOutput::builder().build()));
            }
            _ => {}
        }
        Ok(())
    }
}
