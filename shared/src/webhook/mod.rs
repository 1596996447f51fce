//! Webhooks: where they may go ([`destination`]), how they are signed and verified
//! ([`signature`]), what a delivery sends and does next ([`delivery`]), the key it is signed
//! with ([`secrets`]), the HTTPS transport ([`https`], feature `webhooks`), and the local
//! stand-in for the event rule that feeds the webhook queue ([`route`]).

pub mod delivery;
pub mod destination;
#[cfg(feature = "webhooks")]
pub mod https;
pub mod route;
pub mod secrets;
pub mod signature;

pub use destination::{DestinationError, DestinationPolicy};
pub use signature::{sign, verify, WebhookError, WebhookHeaders, WebhookSecret};
