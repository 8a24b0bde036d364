//! feegate
