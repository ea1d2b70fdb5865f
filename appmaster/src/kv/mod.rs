//! The application's key-value store, kept by the application master: sorted keys with
//! revisions, transactions, keys owned by containers, and events for watchers
//! ([`store`]), made durable by a journal on the application's staging directory that a
//! new attempt replays ([`journal`]), served to holders of the application's secret
//! ([`service`], [`server`]) and reached through [`client`].

pub mod client;
pub mod journal;
pub mod server;
pub mod service;
pub mod store;
pub mod wire;
