//! Who is calling, from verified claims only, and what they may do.

use std::collections::HashMap;

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::ids::{OrgId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Agent,
    /// A machine client of the org: an autoresponder, a virtual agent, a routing engine.
    Automation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Team,
    Business,
    Enterprise,
}

impl Role {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "admin" => Some(Self::Admin),
            "agent" => Some(Self::Agent),
            "automation" => Some(Self::Automation),
            _ => None,
        }
    }
}

impl Plan {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "team" => Some(Self::Team),
            "business" => Some(Self::Business),
            "enterprise" => Some(Self::Enterprise),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Team => "team",
            Self::Business => "business",
            Self::Enterprise => "enterprise",
        }
    }

    fn display_name(self) -> &'static str {
        match self {
            Self::Team => "Team",
            Self::Business => "Business",
            Self::Enterprise => "Enterprise",
        }
    }
}

/// Everything a caller can be allowed to do; the matrix below says who may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Settings, attribute definitions and notes: what people in the inbox read.
    Read,
    /// Contacts and conversation history.
    ReadContacts,
    ChangeStatus,
    ManageSettings,
    FillAttributes,
    WriteNotes,
    Vip,
    Crm,
    CrmLookup,
    DeleteContacts,
    Export,
}

const ADMIN: &[Role] = &[Role::Admin];
const PEOPLE: &[Role] = &[Role::Admin, Role::Agent];
const EVERYONE: &[Role] = &[Role::Admin, Role::Agent, Role::Automation];
const ALL_PLANS: &[Plan] = &[Plan::Team, Plan::Business, Plan::Enterprise];
const PAID_PLANS: &[Plan] = &[Plan::Business, Plan::Enterprise];
const ENTERPRISE: &[Plan] = &[Plan::Enterprise];

/// The role and plan matrix of API.md, the only place it is written down in code: who may use a
/// capability, and on which plans.
fn rule(capability: Capability) -> (&'static [Role], &'static [Plan]) {
    match capability {
        Capability::Read => (PEOPLE, ALL_PLANS),
        Capability::ReadContacts => (EVERYONE, ALL_PLANS),
        Capability::ChangeStatus => (EVERYONE, ALL_PLANS),
        Capability::ManageSettings => (ADMIN, ALL_PLANS),
        Capability::FillAttributes => (EVERYONE, PAID_PLANS),
        Capability::WriteNotes => (PEOPLE, PAID_PLANS),
        Capability::Vip => (EVERYONE, PAID_PLANS),
        Capability::Crm => (ADMIN, ENTERPRISE),
        Capability::CrmLookup => (PEOPLE, ENTERPRISE),
        Capability::DeleteContacts => (ADMIN, ALL_PLANS),
        Capability::Export => (ADMIN, ENTERPRISE),
    }
}

/// The verified caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub org: OrgId,
    pub user_id: UserId,
    pub name: String,
    pub role: Role,
    pub plan: Plan,
}

impl Caller {
    /// Reads the claims the JWT authorizer verified and put in the request context.
    pub fn from_request(req: &Request) -> Result<Self, ApiError> {
        match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx
                .authorizer
                .as_ref()
                .and_then(|a| a.jwt.as_ref())
                .ok_or(ApiError::Unauthorized)
                .and_then(|jwt| Self::from_claims(&jwt.claims)),
            _ => Err(ApiError::Unauthorized),
        }
    }

    pub fn from_claims(claims: &HashMap<String, String>) -> Result<Self, ApiError> {
        let claim = |name: &str| claims.get(name).map(String::as_str);
        let org = claim("org_id")
            .and_then(|v| OrgId::parse(v).ok())
            .ok_or(ApiError::Unauthorized)?;
        let user_id = claim("sub")
            .and_then(|v| UserId::parse(v).ok())
            .ok_or(ApiError::Unauthorized)?;
        let role = claim("role")
            .and_then(Role::parse)
            .ok_or(ApiError::Unauthorized)?;
        let plan = match claim("plan") {
            None | Some("") => Plan::Team,
            Some(value) => Plan::parse(value).ok_or(ApiError::Unauthorized)?,
        };
        let name = claim("name")
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(user_id.as_str())
            .to_owned();
        Ok(Self {
            org,
            user_id,
            name,
            role,
            plan,
        })
    }

    /// Role is checked before plan: an agent is told it is not allowed, not that it should upgrade.
    pub fn require(&self, capability: Capability) -> Result<(), ApiError> {
        let (roles, plans) = rule(capability);
        if !roles.contains(&self.role) {
            return Err(ApiError::Forbidden(
                "your role does not allow this action".into(),
            ));
        }
        if !plans.contains(&self.plan) {
            let needed = plans.first().map_or("", |p| p.display_name());
            return Err(ApiError::PlanRequired(format!(
                "this feature needs the {needed} plan or higher"
            )));
        }
        Ok(())
    }

    pub fn may(&self, capability: Capability) -> bool {
        self.require(capability).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::caller;

    fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn matrix_follows_the_contract() {
        use Plan::*;
        use Role::*;
        let agent_team = caller(Agent, Team);
        assert!(agent_team.may(Capability::Read));
        assert_eq!(
            agent_team
                .require(Capability::ManageSettings)
                .unwrap_err()
                .code(),
            "forbidden"
        );
        assert_eq!(
            agent_team
                .require(Capability::FillAttributes)
                .unwrap_err()
                .code(),
            "plan_required"
        );
        assert!(caller(Agent, Business).may(Capability::Vip));
        assert_eq!(
            caller(Agent, Enterprise)
                .require(Capability::Crm)
                .unwrap_err()
                .code(),
            "forbidden"
        );
        assert_eq!(
            caller(Admin, Business)
                .require(Capability::Crm)
                .unwrap_err()
                .code(),
            "plan_required"
        );
        assert!(caller(Admin, Enterprise).may(Capability::Export));
        assert!(caller(Admin, Team).may(Capability::DeleteContacts));
        assert!(!caller(Agent, Enterprise).may(Capability::DeleteContacts));
    }

    #[test]
    fn automation_reads_contacts_fills_values_and_vip_and_nothing_else() {
        use Plan::*;
        let bot = caller(Role::Automation, Enterprise);
        for allowed in [
            Capability::ReadContacts,
            Capability::ChangeStatus,
            Capability::FillAttributes,
            Capability::Vip,
        ] {
            assert!(bot.may(allowed), "{allowed:?}");
        }
        for refused in [
            Capability::Read,
            Capability::ManageSettings,
            Capability::WriteNotes,
            Capability::Crm,
            Capability::CrmLookup,
            Capability::DeleteContacts,
            Capability::Export,
        ] {
            assert_eq!(
                bot.require(refused).unwrap_err().code(),
                "forbidden",
                "{refused:?}"
            );
        }
        assert_eq!(
            caller(Role::Automation, Team)
                .require(Capability::FillAttributes)
                .unwrap_err()
                .code(),
            "plan_required"
        );
    }

    #[test]
    fn claims_make_a_caller_with_team_as_default_plan() {
        let c = Caller::from_claims(&claims(&[
            ("org_id", "acme"),
            ("sub", "u-1"),
            ("role", "admin"),
            ("name", "Ana"),
        ]))
        .unwrap();
        assert_eq!(c.plan, Plan::Team);
        assert_eq!(c.name, "Ana");
        assert_eq!(c.org.as_str(), "acme");
    }

    #[test]
    fn incomplete_or_unknown_claims_are_unauthorized() {
        for bad in [
            claims(&[("sub", "u"), ("role", "admin")]),
            claims(&[("org_id", "acme"), ("role", "admin")]),
            claims(&[("org_id", "acme"), ("sub", "u"), ("role", "owner")]),
            claims(&[("org_id", "ac#me"), ("sub", "u"), ("role", "admin")]),
            claims(&[
                ("org_id", "acme"),
                ("sub", "u"),
                ("role", "agent"),
                ("plan", "gold"),
            ]),
        ] {
            assert_eq!(
                Caller::from_claims(&bad).unwrap_err().code(),
                "unauthorized"
            );
        }
    }
}
