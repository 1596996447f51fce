//! An emulator that drops `ReturnValuesOnConditionCheckFailure`, as dynalite does: an SDK
//! interceptor that takes the current item out of every refused conditional write on its way
//! back, so the store conformance suite runs against answers that say nothing of the job.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    Error, FinalizerInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug, Clone, Copy, Default)]
pub struct DropsOldItems;

impl Intercept for DropsOldItems {
    fn name(&self) -> &'static str {
        "DropsOldItems"
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(result) = context.output_or_error_mut() else {
            return Ok(());
        };
        if result.is_ok() {
            return Ok(());
        }
        let placeholder = Err(OrchestratorError::other("replaced by DropsOldItems"));
        if let Err(err) = std::mem::replace(result, placeholder) {
            *result = Err(err.map_operation_error(without_items));
        }
        Ok(())
    }
}

fn without_items(err: Error) -> Error {
    let err = match err.downcast::<PutItemError>() {
        Ok(PutItemError::ConditionalCheckFailedException(refused)) => {
            let bare = ConditionalCheckFailedException::builder()
                .set_message(refused.message().map(str::to_owned))
                .build();
            return Error::erase(PutItemError::ConditionalCheckFailedException(bare));
        }
        Ok(other) => return Error::erase(other),
        Err(err) => err,
    };
    match err.downcast::<UpdateItemError>() {
        Ok(UpdateItemError::ConditionalCheckFailedException(refused)) => {
            let bare = ConditionalCheckFailedException::builder()
                .set_message(refused.message().map(str::to_owned))
                .build();
            Error::erase(UpdateItemError::ConditionalCheckFailedException(bare))
        }
        Ok(other) => Error::erase(other),
        Err(err) => err,
    }
}
