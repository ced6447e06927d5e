//! The journal's text columns as enums: each value is written as the text the state file has
//! always held (and that `--json` output shows), and read back from it; a text samla does not
//! know is a [`RowError`] naming the row and the column, never a default.

use rusqlite::ToSql;
use rusqlite::types::ToSqlOutput;
use serde::{Serialize, Serializer};

/// A journal enum stored as text.
pub trait Text: Copy + Sized + 'static {
    /// Every value, in declaration order.
    const ALL: &'static [Self];
    /// The text in the state file.
    fn text(self) -> &'static str;
    /// The value whose text is `text`.
    fn from_text(text: &str) -> Option<Self>;
}

/// An enum with its text per value: `as_str`, `parse`, [`Text`], `Display` (padded like a
/// string), `Serialize` and `ToSql` all use that text.
macro_rules! text_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// The text in the state file and in JSON output.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value whose text is `text`.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl Text for $name {
            const ALL: &'static [$name] = &[$($name::$variant,)+];

            fn text(self) -> &'static str {
                self.as_str()
            }

            fn from_text(text: &str) -> Option<$name> {
                $name::parse(text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }
    };
}

text_enum! {
    /// Which target system an operation went to (`journal.system`, `target_objects.system`).
    pub enum System {
        Tenant = "tenant",
        SharedAd = "shared_ad",
    }
}

text_enum! {
    /// What an operation does (`journal.action`): a wave's changes in either system, and a
    /// rollback's inverses.
    pub enum Action {
        /// A user, a group or an OU created (both systems; OUs in the shared AD only).
        CreateUser = "create_user",
        CreateGroup = "create_group",
        CreateLicenceGroup = "create_licence_group",
        CreateOu = "create_ou",
        /// A PATCH of an existing user's properties (the tenant).
        UpdateUser = "update_user",
        /// samla's own user or group, soft-deleted by a rollback, restored from the tenant's
        /// deleted items instead of being created again (a wave run again after its rollback).
        RestoreDeletedUser = "restore_deleted_user",
        RestoreDeletedGroup = "restore_deleted_group",
        AddMembers = "add_members",
        SetManager = "set_manager",
        AssignUserLicence = "assign_user_licence",
        AssignGroupLicence = "assign_group_licence",
        /// The tenant's inverses.
        RemoveMember = "remove_member",
        RestoreManager = "restore_manager",
        RemoveLicence = "remove_licence",
        RestoreUser = "restore_user",
        DeleteGroup = "delete_group",
        DeleteUser = "delete_user",
        /// The shared AD's inverses: an object deleted, and modifications undoing the
        /// members added, the values updated, the manager set.
        Delete = "delete",
        UndoAddMember = "undo_add_member",
        UndoUpdate = "undo_update",
        UndoSetManager = "undo_set_manager",
        /// A cutover's: an account enabled (both systems; the before-image holds it
        /// disabled), a Temporary Access Pass issued (the tenant; the row holds its method id
        /// and validity, never the pass), one deleted (a pass the handout lacks).
        EnableUser = "enable_user",
        IssuePass = "issue_pass",
        DeletePass = "delete_pass",
        /// A rollback's inverse of a cutover's enable (the before-image holds it enabled).
        DisableUser = "disable_user",
    }
}

impl Action {
    /// Whether the operation creates an object (what [`crate::state::State::create_intent_run`]
    /// looks for: actions whose text starts with `create`).
    pub fn creates(self) -> bool {
        matches!(self, Action::CreateUser | Action::CreateGroup | Action::CreateLicenceGroup | Action::CreateOu)
    }
}

text_enum! {
    /// Where an operation is (`journal.state`).
    pub enum OpState {
        /// Journaled, not answered yet.
        Sent = "sent",
        Done = "done",
        Failed = "failed",
        /// Still sent when its run ended: it may or may not have happened.
        InDoubt = "in_doubt",
    }
}

text_enum! {
    /// What a run does (`wave_runs.kind`).
    pub enum RunKind {
        Run = "run",
        Rollback = "rollback",
        /// `samla wave cutover`: the wave's accounts enabled, their first sign-in issued.
        Cutover = "cutover",
    }
}

text_enum! {
    /// How a run is going or went (`wave_runs.status`).
    pub enum RunStatus {
        Running = "running",
        Completed = "completed",
        Failed = "failed",
    }
}

text_enum! {
    /// What an object in a target is (`target_objects.kind`).
    pub enum TargetKind {
        User = "user",
        Group = "group",
        LicenceGroup = "licence_group",
        Ou = "ou",
        /// A user or group of the shared AD found by its anchor.
        Object = "object",
    }
}

/// What is wrong with a value read from the journal.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("'{0}' is not a value samla writes")]
    Unknown(String),
    #[error("not JSON: {0}")]
    NotJson(serde_json::Error),
}

/// A journal row that is not as samla writes it, named so that a person can find it
/// (`SELECT * FROM journal WHERE id = <row>`).
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    /// A row of `journal`.
    #[error("journal row {row} (run {run}), column {column}: {problem}")]
    Journal { row: i64, run: i64, column: &'static str, problem: Problem },
    /// A row of `wave_runs`.
    #[error("wave_runs row {run}, column {column}: {problem}")]
    Run { run: i64, column: &'static str, problem: Problem },
    /// The `journal` rows of a run, counted by system and state.
    #[error("journal rows of run {run}, column {column}: {problem}")]
    RunOperations { run: i64, column: &'static str, problem: Problem },
}

/// The value whose text `text` is; `error` names where it was read.
pub(crate) fn decode<T: Text>(text: String, error: impl FnOnce(Problem) -> RowError) -> Result<T, RowError> {
    T::from_text(&text).ok_or_else(|| error(Problem::Unknown(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: Text + std::fmt::Debug + PartialEq + Serialize + std::fmt::Display>() {
        for v in T::ALL {
            assert_eq!(T::from_text(v.text()), Some(*v));
            assert_eq!(serde_json::to_value(v).unwrap(), serde_json::Value::String(v.text().into()));
            assert_eq!(format!("{v}"), v.text());
        }
        let texts: std::collections::BTreeSet<&str> = T::ALL.iter().map(|v| v.text()).collect();
        assert_eq!(texts.len(), T::ALL.len(), "one text per value");
        assert_eq!(T::from_text(""), None);
        assert_eq!(T::from_text("Tenant"), None, "texts are exact");
    }

    #[test]
    fn every_value_has_its_own_text_and_is_read_back_from_it() {
        round_trips::<System>();
        round_trips::<Action>();
        round_trips::<OpState>();
        round_trips::<RunKind>();
        round_trips::<RunStatus>();
        round_trips::<TargetKind>();
    }

    #[test]
    fn display_pads_like_the_text() {
        assert_eq!(format!("{:<10}|", System::Tenant), "tenant    |");
        assert_eq!(format!("{:<9}|", OpState::InDoubt), "in_doubt |");
    }

    #[test]
    fn the_creating_actions_are_those_whose_text_says_create() {
        for a in Action::ALL {
            assert_eq!(a.creates(), a.as_str().starts_with("create"), "{a}");
        }
    }

    #[test]
    fn an_unknown_text_names_its_row_and_column() {
        let e = decode::<Action>("frobnicate".into(), |problem| RowError::Journal {
            row: 12,
            run: 3,
            column: "action",
            problem,
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "journal row 12 (run 3), column action: 'frobnicate' is not a value samla writes");
    }
}
