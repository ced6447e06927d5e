//! Directory roles: the activated Entra roles of the tenant and the users holding them.
//!
//! A tenant has its roles activated from Microsoft's role templates (Global Administrator is
//! always there); `GET /directoryRoles` lists them, `GET /directoryRoles/{id}/members` their
//! holders, `POST /directoryRoles/{id}/members/$ref` adds one. samla reads them before a wave
//! (a cloud user the wave would take over must hold no role) and, later, for Entra Connect's
//! handover (cloud users holding a role are not hard-matched). The test tenant activates the
//! roles below; a role's holders are kept on each user ([`super::directory::Object::roles`],
//! by template id), so they live in the state file and the dump with the users. Stricter than
//! Graph: only users hold roles here (no groups, no service principals, no scoped members).

use super::ids::{Guid, ObjectId};

/// One activated directory role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    pub name: &'static str,
    /// The role template's id (Microsoft's, the same in every tenant).
    pub template: &'static str,
    pub description: &'static str,
}

/// The roles the test tenant has activated: Microsoft's template ids.
pub const ROLES: [Role; 7] = [
    Role {
        name: "Global Administrator",
        template: "62e90394-69f5-4237-9190-012177145e10",
        description: "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities.",
    },
    Role {
        name: "Privileged Role Administrator",
        template: "e8611ab8-c189-46e8-94e1-60213ab1f814",
        description: "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management.",
    },
    Role {
        name: "User Administrator",
        template: "fe930be7-5e62-47db-91af-98c3a49a38b1",
        description: "Can manage all aspects of users and groups, including resetting passwords for limited admins.",
    },
    Role {
        name: "Groups Administrator",
        template: "fdd7a751-b60b-444a-984c-02652fe8fa1c",
        description: "Members of this role can create/manage groups, create/manage groups settings like naming and expiration policies, and view groups activity and audit reports.",
    },
    Role {
        name: "Exchange Administrator",
        template: "29232cdf-9323-42fd-ade2-1d097af3e4de",
        description: "Can manage all aspects of the Exchange product.",
    },
    Role {
        name: "Helpdesk Administrator",
        template: "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        description: "Can reset passwords for non-administrators and Helpdesk Administrators.",
    },
    Role {
        name: "License Administrator",
        template: "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
        description: "Can manage product licenses on users and groups.",
    },
];

impl Role {
    /// The role's object id in this tenant (stable: derived from its template).
    pub fn id(&self) -> ObjectId {
        ObjectId(Guid::from_name("directoryRole", self.template))
    }

    /// The role an id or a roleTemplateId names.
    pub fn find(key: &str) -> Option<&'static Role> {
        ROLES.iter().find(|r| r.id().to_string().eq_ignore_ascii_case(key) || r.template.eq_ignore_ascii_case(key))
    }

    /// The role as Graph renders a directoryRole.
    pub fn render(&self) -> serde_json::Value {
        serde_json::json!({
            "@odata.type": "#microsoft.graph.directoryRole",
            "id": self.id(),
            "deletedDateTime": null,
            "description": self.description,
            "displayName": self.name,
            "roleTemplateId": self.template,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_found_by_id_or_template_and_their_ids_are_stable() {
        let ga = Role::find("62E90394-69F5-4237-9190-012177145E10").unwrap();
        assert_eq!(ga.name, "Global Administrator");
        assert_eq!(Role::find(&ga.id().to_string()), Some(ga));
        assert_ne!(ga.id().to_string(), ga.template);
        assert!(Role::find("00000000-0000-0000-0000-000000000000").is_none());
    }
}
