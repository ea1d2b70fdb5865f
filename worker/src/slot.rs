//! A task's hold on one of its worker's slots.

use tokio::sync::OwnedSemaphorePermit;

/// A running task's slot. The task gives it back once only waiting is left (storing its
/// output), so the worker's next task runs meanwhile; giving it back also tells the
/// master, which may then send another task.
pub struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    on_give_back: Option<Box<dyn FnOnce() + Send>>,
}

impl Slot {
    pub fn new(
        permit: Option<OwnedSemaphorePermit>,
        on_give_back: impl FnOnce() + Send + 'static,
    ) -> Slot {
        Slot {
            permit,
            on_give_back: Some(Box::new(on_give_back)),
        }
    }

    /// A slot no one else waits for or hears about.
    #[cfg(test)]
    pub fn unheld() -> Slot {
        Slot {
            permit: None,
            on_give_back: None,
        }
    }

    /// Frees the slot; later calls do nothing.
    pub fn give_back(&mut self) {
        self.permit = None;
        if let Some(tell) = self.on_give_back.take() {
            tell();
        }
    }
}
