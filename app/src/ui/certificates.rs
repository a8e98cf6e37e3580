//! `/certificates`: every watched certificate, soonest expiry first, with its chain and name
//! validity.
use leptos::prelude::*;

use super::{RequireUser, list_certificates};
use crate::CertificateInfo;

/// Days left under which a certificate shows red.
const SOON_DAYS: i64 = 14;

/// `/certificates`.
#[component]
pub fn CertificatesPage() -> impl IntoView {
    view! { <RequireUser signed_in=|| view! { <Certificates/> }/> }
}

#[component]
fn Certificates() -> impl IntoView {
    let refresh = RwSignal::new(0_u32);
    let list = Resource::new(move || refresh.get(), |_| list_certificates(None));
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        super::live::every(std::time::Duration::from_secs(30), move || {
            refresh.try_update(|n| *n += 1);
        });
    });
    view! {
        <section class="fleet certificates-page">
            <div class="section-head"><h1>"Certificates"</h1></div>
            <Transition fallback=|| view! { <p class="muted">"Loading certificates…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(all) if all.is_empty() => view! {
                            <p class="muted empty" data-testid="certificates-empty">"No certificates watched yet. Start an agent with "<code>"--cert-target host:port"</code>" or "<code>"--cert-target /path/cert.pem"</code>"."</p>
                        }.into_any(),
                        Ok(all) => view! { <CertificateTable all/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.message()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// A table of certificates; the host column only when they come from several hosts.
#[component]
pub(super) fn CertificateTable(all: Vec<CertificateInfo>) -> impl IntoView {
    let hosts: std::collections::BTreeSet<&str> = all.iter().map(|c| c.agent_id.as_str()).collect();
    let show_host = hosts.len() > 1;
    view! {
        <table class="fleet-table certificate-table">
            <thead><tr>
                <th>"Target"</th>
                {show_host.then(|| view! { <th>"Host"</th> })}
                <th>"Days left"</th>
                <th>"Expires"</th>
                <th>"Chain and name"</th>
                <th>"Subject"</th>
                <th>"Issuer"</th>
                <th>"Scanned"</th>
            </tr></thead>
            <tbody>
                {all.into_iter().map(|c| view! { <CertificateRow c show_host/> }).collect_view()}
            </tbody>
        </table>
    }
}

/// `CN=example.com, O=…` → `example.com`; the whole name when it has no CN.
fn common_name(dn: &str) -> String {
    dn.split(',')
        .map(str::trim)
        .find_map(|part| part.strip_prefix("CN="))
        .unwrap_or(dn)
        .to_owned()
}

/// How many days are left, as a person reads it.
fn days_text(days: Option<i64>) -> String {
    match days {
        None => "–".into(),
        Some(d) if d < 0 => format!("expired {} d ago", -d),
        Some(1) => "1 day".into(),
        Some(d) => format!("{d} days"),
    }
}

#[component]
fn CertificateRow(c: CertificateInfo, show_host: bool) -> impl IntoView {
    let soon = c.days_left.is_some_and(|d| d < SOON_DAYS);
    let validity = if c.chain_valid {
        view! { <span class="badge ok" data-testid="cert-validity">"valid"</span> }.into_any()
    } else {
        view! {
            <span class="badge crit" data-testid="cert-validity">"invalid"</span>
            <span class="muted reason">{c.error.clone()}</span>
        }
        .into_any()
    };
    let host_href = format!("/hosts/{}", c.agent_id);
    view! {
        <tr class="fleet-row certificate-row" data-target=c.target.clone()>
            <td class="col-host" data-label="Target"><strong>{c.target.clone()}</strong>
                <span class="muted hostname">{c.sans.join(", ")}</span></td>
            {show_host.then(|| view! {
                <td data-label="Host"><a class="badge host" data-testid="host-badge" href=host_href>{c.host_label.clone()}</a></td>
            })}
            <td data-label="Days left" data-testid="days-left" class="nowrap" class:crit=soon>{days_text(c.days_left)}</td>
            <td data-label="Expires" class="nowrap" title=c.not_after.clone().unwrap_or_default()>{c.not_after.as_deref().map(|t| t.get(..10).unwrap_or(t).to_owned()).unwrap_or_else(|| "–".into())}</td>
            <td data-label="Chain and name" class="validity">{validity}</td>
            <td data-label="Subject" title=c.subject.clone()>{common_name(&c.subject)}</td>
            <td data-label="Issuer" class="muted" title=c.issuer.clone()>{common_name(&c.issuer)}</td>
            <td data-label="Scanned" class="muted" title=c.scanned_at.clone()>{c.scanned_at.get(..16).unwrap_or(&c.scanned_at).replace('T', " ")}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_days_read_as_people_say_them() {
        assert_eq!(common_name("CN=shop.example, O=Shop"), "shop.example");
        assert_eq!(common_name("O=No Name"), "O=No Name");
        assert_eq!(days_text(Some(-3)), "expired 3 d ago");
        assert_eq!(days_text(Some(1)), "1 day");
        assert_eq!(days_text(Some(40)), "40 days");
        assert_eq!(days_text(None), "–");
    }
}
