//! Map-side combine: when a shuffle by some keys is followed by a `GROUP BY` of exactly
//! those keys with decomposable aggregates (sum, count, min, max), each map task can
//! aggregate its own rows first and the reducer combines the partial results. The
//! shuffle then moves one row per key per task instead of every row.
//!
//! Only queries of the exact shape `SELECT <keys and aliased aggregates> FROM input
//! GROUP BY <keys> [ORDER BY <names>] [LIMIT n]` are split; anything else (WHERE, HAVING,
//! DISTINCT, expressions, unaliased aggregates, avg) runs as written.

use sqlparser::ast::{Expr, FunctionArguments, GroupByExpr, SelectItem, SetExpr, Statement};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

/// A reducer query split in two.
#[derive(Debug, Clone, PartialEq)]
pub struct Combine {
    /// Runs on each map task's rows, before the shuffle.
    pub partial: String,
    /// Runs on each shuffle partition's partial rows, in place of the original query.
    pub merge: String,
}

/// Splits `query` if it aggregates by exactly `keys` (the shuffle's columns).
pub fn split_aggregate(query: &str, keys: &[String]) -> Option<Combine> {
    let statements = Parser::parse_sql(&GenericDialect {}, query).ok()?;
    let [Statement::Query(q)] = statements.as_slice() else {
        return None;
    };
    let SetExpr::Select(select) = q.body.as_ref() else {
        return None;
    };
    let GroupByExpr::Expressions(group, modifiers) = &select.group_by else {
        return None;
    };
    if !modifiers.is_empty() {
        return None;
    }
    let group: Vec<String> = group.iter().map(column_name).collect::<Option<_>>()?;
    let (mut sorted_group, mut sorted_keys) = (group.clone(), keys.to_vec());
    sorted_group.sort();
    sorted_keys.sort();
    if sorted_group != sorted_keys {
        return None;
    }
    let order = q
        .order_by
        .as_ref()
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    // ORDER BY may name output columns only: an aggregate there would refer to input
    // columns the merge query no longer has.
    if order.contains('(') {
        return None;
    }
    let limit = q
        .limit_clause
        .as_ref()
        .map(|l| l.to_string())
        .unwrap_or_default();
    let tail = format!("{order}{limit}");

    let mut partial = group.clone();
    let mut merge = Vec::new();
    for (i, item) in select.projection.iter().enumerate() {
        match item {
            SelectItem::UnnamedExpr(e) if column_name(e).is_some_and(|c| group.contains(&c)) => {
                merge.push(e.to_string());
            }
            SelectItem::ExprWithAlias {
                expr: Expr::Function(f),
                alias,
            } => {
                let call = f.to_string();
                let combiner = combiner_of(&call)?;
                let column = format!("__spindle_partial_{i}");
                partial.push(format!("{call} AS {column}"));
                merge.push(format!("{combiner}({column}) AS {alias}"));
            }
            _ => return None,
        }
    }
    let projection: Vec<String> = select.projection.iter().map(|p| p.to_string()).collect();
    let group_by = group.join(", ");
    // Every clause this module does not carry over would make the rebuilt text differ.
    let rebuilt = format!(
        "SELECT {} FROM input GROUP BY {group_by}{tail}",
        projection.join(", ")
    );
    if rebuilt != statements[0].to_string() {
        return None;
    }
    Some(Combine {
        partial: format!(
            "SELECT {} FROM input GROUP BY {group_by}",
            partial.join(", ")
        ),
        merge: format!(
            "SELECT {} FROM input GROUP BY {group_by}{tail}",
            merge.join(", ")
        ),
    })
}

/// The column an expression names, if it is a bare name. Names such as `user` parse as
/// argument-less functions (SQL's `USER`), which DataFusion resolves to the column.
fn column_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(id) => Some(id.to_string()),
        Expr::Function(f) if matches!(f.args, FunctionArguments::None) => {
            let name = f.to_string();
            name.chars()
                .all(|c| c.is_alphanumeric() || c == '_')
                .then_some(name)
        }
        _ => None,
    }
}

/// How partial results of `call` (as written, e.g. `count(*)`) combine: counts add up.
fn combiner_of(call: &str) -> Option<&'static str> {
    let (name, rest) = call.split_once('(')?;
    let arg = rest.strip_suffix(')')?;
    let plain = arg == "*" || arg.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !plain || arg.is_empty() {
        return None;
    }
    match name.to_ascii_lowercase().as_str() {
        "sum" | "count" => Some("sum"),
        "min" => Some("min"),
        "max" => Some("max"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn splits_sum_count_min_max_by_the_shuffle_keys() {
        let c = split_aggregate(
            "SELECT user, sum(bytes) AS bytes, count(*) AS hits, MAX(ts) AS last FROM input GROUP BY user",
            &keys(&["user"]),
        )
        .expect("decomposable");
        assert_eq!(
            c.partial,
            "SELECT user, sum(bytes) AS __spindle_partial_1, count(*) AS __spindle_partial_2, MAX(ts) AS __spindle_partial_3 FROM input GROUP BY user"
        );
        assert_eq!(
            c.merge,
            "SELECT user, sum(__spindle_partial_1) AS bytes, sum(__spindle_partial_2) AS hits, max(__spindle_partial_3) AS last FROM input GROUP BY user"
        );
    }

    #[test]
    fn keeps_order_by_names_and_limit_for_the_merge() {
        let c = split_aggregate(
            "SELECT a, b, count(x) AS n FROM input GROUP BY b, a ORDER BY n DESC, a LIMIT 10",
            &keys(&["a", "b"]),
        )
        .expect("decomposable");
        assert_eq!(
            c.partial,
            "SELECT b, a, count(x) AS __spindle_partial_2 FROM input GROUP BY b, a"
        );
        assert_eq!(
            c.merge,
            "SELECT a, b, sum(__spindle_partial_2) AS n FROM input GROUP BY b, a ORDER BY n DESC, a LIMIT 10"
        );
    }

    #[test]
    fn leaves_everything_else_alone() {
        let k = keys(&["user"]);
        for q in [
            "SELECT user, avg(bytes) AS b FROM input GROUP BY user",
            "SELECT user, sum(bytes) FROM input GROUP BY user",
            "SELECT user, count(DISTINCT url) AS n FROM input GROUP BY user",
            "SELECT user, sum(bytes) AS b FROM input WHERE status = 200 GROUP BY user",
            "SELECT user, sum(bytes) AS b FROM input GROUP BY user HAVING sum(bytes) > 1",
            "SELECT user, sum(bytes * 2) AS b FROM input GROUP BY user",
            "SELECT user, sum(bytes) AS b FROM input GROUP BY user ORDER BY sum(bytes)",
            "SELECT user, sum(bytes) AS b FROM other GROUP BY user",
            "SELECT upper(user) AS u, sum(bytes) AS b FROM input GROUP BY user",
            "SELECT user, url, sum(bytes) AS b FROM input GROUP BY user, url",
            "SELECT user, bytes FROM input",
            "not sql at all",
        ] {
            assert_eq!(split_aggregate(q, &k), None, "{q}");
        }
        // Grouping by other columns than the shuffle's would not be exact.
        assert_eq!(
            split_aggregate(
                "SELECT url, sum(bytes) AS b FROM input GROUP BY url",
                &keys(&["user"])
            ),
            None
        );
    }
}
