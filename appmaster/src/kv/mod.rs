//! The application's key-value store, kept by the application master: sorted keys with
//! revisions, transactions, keys owned by containers, and events for watchers
//! ([`store`]), made durable by a journal on the application's staging directory that a
//! new attempt replays ([`journal`]).

pub mod journal;
pub mod store;
