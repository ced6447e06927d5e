//! The journal of one run as the passes write it: intents before they are sent, completions
//! after, and the target objects found or created (see [`crate::journal`]).

use crate::journal::{Completion, Intent, System, TargetObject};
use crate::state::{State, StateError};
use std::path::PathBuf;

/// The journal of one run, as the passes write it.
pub struct Journal<'a> {
    pub state: &'a mut State,
    pub run: i64,
    pub target: String,
    pub wave: u32,
    pub pass: u32,
}

impl Journal<'_> {
    pub fn path(&self) -> PathBuf {
        self.state.path.clone()
    }

    pub fn record_intents(&mut self, intents: &[Intent]) -> Result<Vec<i64>, StateError> {
        self.state.record_intents(self.run, intents)
    }

    pub fn record_completions(&mut self, done: &[Completion]) -> Result<(), StateError> {
        self.state.record_completions(done)
    }

    /// Remembers an object samla created (`created`) or found.
    pub fn remember(
        &mut self,
        system: System,
        key: &str,
        object_id: &str,
        kind: &str,
        created: bool,
    ) -> Result<(), StateError> {
        let by = if created { Some(self.run) } else { self.state.create_intent_run(&self.target, system, key)? };
        let object = TargetObject { system, key, object_id, kind, wave: self.wave, created_by_run: by };
        self.state.remember_object(&self.target, &object)
    }
}
