//! A DynamoDB whose key is always being written by someone else: an SDK interceptor that
//! answers every `TransactWriteItems` with `TransactionConflict` on the idempotency record,
//! as DynamoDB answers a transaction that meets another one in progress on the same item.
//! The transaction itself still reaches the emulator, so the first one does take effect, as
//! the other request's would.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::error::TransactionCanceledException;
use aws_sdk_dynamodb::types::CancellationReason;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    Error, FinalizerInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug, Clone, Copy, Default)]
pub struct KeyAlwaysInProgress;

impl Intercept for KeyAlwaysInProgress {
    fn name(&self) -> &'static str {
        "KeyAlwaysInProgress"
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let transaction = cfg
            .load::<Metadata>()
            .is_some_and(|m| m.name() == "TransactWriteItems");
        if let (true, Some(result)) = (transaction, context.output_or_error_mut()) {
            let reason = |code: &str| CancellationReason::builder().code(code).build();
            let conflict = TransactionCanceledException::builder()
                .message("Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, None]")
                .cancellation_reasons(reason("TransactionConflict"))
                .cancellation_reasons(reason("None"))
                .build();
            *result = Err(OrchestratorError::operation(Error::erase(
                TransactWriteItemsError::TransactionCanceledException(conflict),
            )));
        }
        Ok(())
    }
}
