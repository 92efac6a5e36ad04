//! A hard end for every connection: its reads and writes stop at a
//! deadline, whatever the HTTP library's own timeouts allow. ureq times a
//! proxy's answer to `CONNECT` per read only, so a proxy sending it a byte
//! a second held a fetch for ever, unlogged and uncounted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};
use ureq::{Error, Timeout};

/// How long a connection made now may do I/O, in milliseconds: the time
/// its request has, which the client sets before sending it.
#[derive(Clone, Debug, Default)]
pub(super) struct Lifetime(Arc<AtomicU64>);

impl Lifetime {
    /// Connections made from now on get `time`; returns it.
    pub(super) fn set(&self, time: Duration) -> Duration {
        let ms = u64::try_from(time.as_millis()).unwrap_or(u64::MAX);
        self.0.store(ms, Ordering::Relaxed);
        time
    }

    fn get(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::Relaxed))
    }
}

/// The last link of the connector chain: each connection the links before
/// it made may do I/O for its request's [`Lifetime`] after it was made.
#[derive(Debug)]
pub(super) struct Deadline(pub(super) Lifetime);

impl<In: Transport> Connector<In> for Deadline {
    type Out = Bounded<In>;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, Error> {
        let until = Instant::now() + self.0.get();
        Ok(chained.map(|inner| Bounded { inner, until }))
    }
}

/// A connection whose I/O ends at `until`.
#[derive(Debug)]
pub(super) struct Bounded<T> {
    inner: T,
    until: Instant,
}

impl<T> Bounded<T> {
    fn in_time(&self) -> Result<(), Error> {
        match Instant::now() < self.until {
            true => Ok(()),
            false => Err(Error::Timeout(Timeout::Global)),
        }
    }
}

impl<T: Transport> Transport for Bounded<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        self.in_time()?;
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        self.in_time()?;
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}
