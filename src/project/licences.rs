//! The demo's first conversation with the tenant: log in with client credentials, read the
//! verified domains and subscribed SKUs over Graph, and check that the unified directory's
//! UPN domains are verified and that every licence class has enough units. Read-only.

use super::error::ProjectError;
use crate::mapping::spec::TargetSpec;
use crate::model::unified::UnifiedDirectory;
use crate::test_tenant::{RunningTenant, TenantOptions};
use std::collections::BTreeMap;

/// One line of the check: a licence class, its SKU, units needed and available.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Capacity {
    pub class: String,
    pub sku: String,
    pub needed: u64,
    pub available: Option<u64>,
}

/// Starts the local test tenant sized for the sample estate and checks against it.
pub fn check_against_test_tenant(
    target: &TargetSpec,
    unified: &UnifiedDirectory,
) -> Result<Vec<Capacity>, ProjectError> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| ProjectError::TestTenant(e.to_string()))?;
    runtime.block_on(async {
        let opts = TenantOptions {
            domains: target.verified_domains.clone(),
            skus: super::demo_tenant::DEMO_SKUS.iter().filter_map(|s| s.parse().ok()).collect(),
            ..TenantOptions::default()
        };
        let tenant = crate::test_tenant::start(opts).await.map_err(|e| ProjectError::TestTenant(e.to_string()))?;
        let result = check(&tenant, target, unified).await;
        tenant.shutdown().await;
        result
    })
}

async fn check(
    tenant: &RunningTenant,
    target: &TargetSpec,
    unified: &UnifiedDirectory,
) -> Result<Vec<Capacity>, ProjectError> {
    let http = reqwest::Client::new();
    let fail = |e: reqwest::Error| ProjectError::TestTenant(e.to_string());
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", &tenant.client_id().to_string()),
        ("client_secret", tenant.client_secret().expose()),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let token: serde_json::Value = http
        .post(tenant.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(fail)?
        .json()
        .await
        .map_err(fail)?;
    let bearer =
        token["access_token"].as_str().ok_or_else(|| ProjectError::TestTenant("no access token".into()))?.to_string();
    let get = |path: &str| {
        let req = http.get(format!("{}/{path}", tenant.graph_url())).bearer_auth(&bearer);
        async move { req.send().await.map_err(fail)?.json::<serde_json::Value>().await.map_err(fail) }
    };
    let domains = get("domains").await?;
    let verified: Vec<String> = domains["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["isVerified"] == true)
        .filter_map(|d| d["id"].as_str().map(str::to_lowercase))
        .collect();
    // Only accounts of kinds that go to the tenant (`[cloud]`) need a verified domain and a licence.
    let cloud_people = || unified.people.iter().filter(|p| target.targets.cloud.goes(p.kind));
    for person in cloud_people() {
        let domain = person.user_principal_name.rsplit('@').next().unwrap_or_default();
        if !verified.iter().any(|d| d == domain) {
            return Err(ProjectError::NotVerified { upn: person.user_principal_name.clone() });
        }
    }
    let skus = get("subscribedSkus").await?;
    let available: BTreeMap<String, u64> = skus["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["skuPartNumber"].as_str()?.to_string(), s["prepaidUnits"]["enabled"].as_u64()?)))
        .collect();
    let mut needed: BTreeMap<&str, u64> = BTreeMap::new();
    for p in cloud_people() {
        *needed.entry(p.licence.as_str()).or_default() += 1;
    }
    Ok(needed
        .into_iter()
        .filter_map(|(class, n)| {
            let sku = target.licences.get(class)?;
            Some(Capacity {
                class: class.to_string(),
                sku: sku.clone(),
                needed: n,
                available: available.get(sku).copied(),
            })
        })
        .collect())
}
