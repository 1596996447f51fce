//! Webhooks: where they may go ([`destination`]), how they are signed and verified
//! ([`signature`]), what a delivery sends and does next ([`delivery`]), the key it is signed
//! with ([`secrets`]), and the HTTPS transport ([`https`], feature `webhooks`).

pub mod delivery;
pub mod destination;
#[cfg(feature = "webhooks")]
pub mod https;
pub mod secrets;
pub mod signature;

pub use destination::{DestinationError, DestinationPolicy};
pub use signature::{sign, verify, WebhookError, WebhookHeaders, WebhookSecret};
