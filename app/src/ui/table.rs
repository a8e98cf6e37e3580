//! What the sortable tables (fleet, containers) share: the sort direction in the URL,
//! figures that may be missing, the header cells and the URL updates.
use std::cmp::Ordering;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_navigate;

/// The direction the URL's `dir` asks for, else the column's own.
pub fn descending(dir: Option<&str>, column_default: bool) -> bool {
    match dir {
        Some("asc") => false,
        Some("desc") => true,
        _ => column_default,
    }
}

/// `dir=…` for the URL when the direction is not the column's own.
pub fn direction_part(descending: bool, column_default: bool) -> Option<String> {
    (descending != column_default)
        .then(|| format!("dir={}", if descending { "desc" } else { "asc" }))
}

/// A second click on the sorted column turns it round; another column starts its own way.
pub fn next_descending(same_column: bool, descending: bool, column_default: bool) -> bool {
    if same_column {
        !descending
    } else {
        column_default
    }
}

/// Figures in the asked direction; missing ones last either way.
pub fn by_figure(a: Option<f64>, b: Option<f64>, descending: bool) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) if descending => y.total_cmp(&x),
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// `aria-sort` of a column header.
pub fn aria_sort(sorted_here: bool, descending: bool) -> &'static str {
    match (sorted_here, descending) {
        (false, _) => "none",
        (true, true) => "descending",
        (true, false) => "ascending",
    }
}

/// A header cell whose link sorts the table by its column (`href`: the URL of that view).
pub fn sort_header(
    key: &'static str,
    title: &'static str,
    aria: impl Fn() -> &'static str + Copy + Send + Sync + 'static,
    href: impl Fn() -> String + Send + Sync + 'static,
) -> AnyView {
    view! {
        <th aria-sort=aria class=format!("col-{key}")>
            <a href=href data-sort=key>
                {title}
                <span class="arrow" aria-hidden="true">{move || match aria() { "descending" => "▼", "ascending" => "▲", _ => "" }}</span>
            </a>
        </th>
    }
    .into_any()
}

/// Shows another view of the page's table: the URL is replaced (no history entry per
/// keystroke) and the page does not scroll.
pub fn replace_url() -> impl Fn(&str) + Clone {
    let navigate = use_navigate();
    move |url: &str| {
        navigate(
            url,
            NavigateOptions {
                replace: true,
                scroll: false,
                ..Default::default()
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_and_missing_figures() {
        assert!(!descending(Some("asc"), true));
        assert!(descending(None, true) && descending(Some("desc"), false));
        assert_eq!(direction_part(true, true), None);
        assert_eq!(direction_part(false, true).as_deref(), Some("dir=asc"));
        assert!(!next_descending(true, true, true) && next_descending(false, false, true));
        assert_eq!(by_figure(Some(1.0), Some(2.0), true), Ordering::Greater);
        assert_eq!(by_figure(None, Some(2.0), true), Ordering::Greater);
        assert_eq!(by_figure(None, Some(2.0), false), Ordering::Greater);
        assert_eq!(aria_sort(false, true), "none");
    }
}
