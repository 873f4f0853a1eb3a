//! Reactors: publish/subscribe with channels.
//!
//! A reactor carries messages of at most its `msg_size` bytes on up to 1024 channels.
//! Subscribers attach reactions to channels; a dispatch delivers a message to every reaction
//! on its channel (and, unless `to_self`, not to the dispatcher's own). Delivery is a
//! broadcast ring in shared memory ([`crate::ring`]): one copy per dispatch whatever the
//! number of subscribers, each subscriber reading at its own cursor, and a wake-up only for
//! subscribers that sleep. A lossy reactor overwrites what a slow subscriber did not read and
//! tells it how much it lost ([`crate::SlaveEvent::Overrun`]); a lossless one makes the
//! dispatcher wait instead. Global reactions run in the master on channel 0, before anyone
//! else sees the message; a dispatch callback tells the creator when everyone has read one.
//!
//! ```no_run
//! # use fusion::{Slave, WorldConfig, reactor::Reaction};
//! let mut slave = Slave::enter(WorldConfig::new("example")).unwrap();
//! let r = slave.reactor_create("clicks", 64, 64, false).unwrap();
//! slave.attach(r, 0, |d| { println!("{:?}", d.payload); Reaction::Keep }).unwrap();
//! slave.dispatch_message(r, 0, b"hello", true).unwrap();
//! slave.dispatch(Some(std::time::Duration::from_millis(10))).unwrap();
//! ```

use crate::wire::{FusioneeId, ReactorId};

/// Entry flag: do not deliver to the dispatcher's own subscriptions.
pub const FLAG_EXCLUDE_ORIGIN: u32 = 1;
/// Entry flag: the creator wants to know when everyone has read it.
pub const FLAG_WANT_CONSUMED: u32 = 2;
/// Highest channel number + 1.
pub const MAX_CHANNELS: u32 = 1024;

/// A message as a reaction sees it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The reactor.
    pub reactor: ReactorId,
    /// The channel.
    pub channel: u32,
    /// Who dispatched it.
    pub origin: FusioneeId,
    /// The message.
    pub payload: &'a [u8],
}

/// What a slave's reaction wants after a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// Stay attached.
    Keep,
    /// Detach this reaction.
    Remove,
}
