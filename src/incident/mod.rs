//! Incidents: what monlab can break, what is broken now, and how monitoring did on it.
//!
//! - [`catalog`]: the incidents, their parameters' defaults and limits, the severity each must
//!   be caught at, and the alerts that are its signals.
//! - [`state`]: the runtime state the handlers consult ([`state::Faults`]).
//! - [`score`]: the one rule that says which alert caught which incident, and how fast.
//!
//! The parameters themselves are part of the wire contract: [`crate::api::incident::Params`].

pub(crate) mod catalog;
pub mod score;
pub(crate) mod state;

pub use catalog::Incident;
pub use state::Faults;
