//! What is kept in redb: the run journal ([`journal`]: every intent, order,
//! fill and refusal, journaled before anyone acts on it), the plugin
//! registry and deployments ([`registry`]), and the lifecycle rules and
//! promotion gates the registry enforces ([`lifecycle`]).

pub mod journal;
pub mod lifecycle;
pub mod registry;
