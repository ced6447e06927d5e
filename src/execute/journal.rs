//! The journal of one run as the passes write it: intents before they are sent, completions
//! after, and the target objects found or created (see [`crate::journal`]).

use crate::journal::{Action, Completion, Intent, System, TargetKind, TargetObject};
use crate::render::graph::Action as GraphAction;
use crate::render::ldap::OpKind;
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
        kind: TargetKind,
        created: bool,
    ) -> Result<(), StateError> {
        let by = if created { Some(self.run) } else { self.state.create_intent_run(&self.target, system, key)? };
        let object = TargetObject { system, key, object_id, kind, wave: self.wave, created_by_run: by };
        self.state.remember_object(&self.target, &object)
    }
}

/// A Graph request's action as the journal names it.
impl From<GraphAction> for Action {
    fn from(action: GraphAction) -> Action {
        match action {
            GraphAction::CreateUser => Action::CreateUser,
            GraphAction::AssignUserLicence => Action::AssignUserLicence,
            GraphAction::CreateGroup => Action::CreateGroup,
            GraphAction::AddMembers => Action::AddMembers,
            GraphAction::SetManager => Action::SetManager,
            GraphAction::CreateLicenceGroup => Action::CreateLicenceGroup,
            GraphAction::AssignGroupLicence => Action::AssignGroupLicence,
            GraphAction::UpdateUser => Action::UpdateUser,
            GraphAction::RestoreDeletedUser => Action::RestoreDeletedUser,
            GraphAction::RestoreDeletedGroup => Action::RestoreDeletedGroup,
            GraphAction::RemoveMember => Action::RemoveMember,
            GraphAction::RestoreManager => Action::RestoreManager,
            GraphAction::RemoveLicence => Action::RemoveLicence,
            GraphAction::RestoreUser => Action::RestoreUser,
            GraphAction::DeleteGroup => Action::DeleteGroup,
            GraphAction::DeleteUser => Action::DeleteUser,
        }
    }
}

/// An LDAP operation's kind as the journal names it.
impl From<OpKind> for Action {
    fn from(kind: OpKind) -> Action {
        match kind {
            OpKind::CreateOu => Action::CreateOu,
            OpKind::CreateUser => Action::CreateUser,
            OpKind::CreateGroup => Action::CreateGroup,
            OpKind::AddMembers => Action::AddMembers,
            OpKind::SetManager => Action::SetManager,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The journal's text is the renderer's serde name, as it was when rows held that name.
    fn same_text<T: serde::Serialize + Copy + Into<Action>>(all: &[T]) {
        for a in all {
            let serde = serde_json::to_value(a).unwrap();
            assert_eq!(serde.as_str(), Some((*a).into().as_str()), "{serde}");
        }
    }

    #[test]
    fn renderer_actions_keep_their_journal_text() {
        same_text(&[
            GraphAction::CreateUser,
            GraphAction::AssignUserLicence,
            GraphAction::CreateGroup,
            GraphAction::AddMembers,
            GraphAction::SetManager,
            GraphAction::CreateLicenceGroup,
            GraphAction::AssignGroupLicence,
            GraphAction::UpdateUser,
            GraphAction::RestoreDeletedUser,
            GraphAction::RestoreDeletedGroup,
            GraphAction::RemoveMember,
            GraphAction::RestoreManager,
            GraphAction::RemoveLicence,
            GraphAction::RestoreUser,
            GraphAction::DeleteGroup,
            GraphAction::DeleteUser,
        ]);
        same_text(&[OpKind::CreateOu, OpKind::CreateUser, OpKind::CreateGroup, OpKind::AddMembers, OpKind::SetManager]);
    }
}
