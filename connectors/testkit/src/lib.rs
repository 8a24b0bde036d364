//! `feegate-testkit`: what every connector shares for testing.
//!
//! - [`simkit`]: the machinery of gateway simulators (orders, fault modes, notification
//!   dispatch, the `/_control` routes, settlement files), so each gateway's simulator
//!   only writes its wire format.
//! - [`conformance`]: the one story every connector must pass against its simulator.
//! - `hostile` (feature `hostile`): the strategies, mutators and corpus reading that the
//!   hostile-input property tests share.

pub mod conformance;
#[cfg(feature = "hostile")]
pub mod hostile;
pub mod simkit;
