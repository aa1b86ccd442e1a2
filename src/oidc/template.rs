//! The subset of Go's `text/template` that Fulcio's `ci-issuer-metadata` uses.
//!
//! Fulcio renders extension values and the SAN of `ci-provider` issuers with Go templates over
//! a map of the token's claims. The public configuration uses only these forms, and so do we:
//!
//! - `{{ .claim }}`: a claim (missing ⇒ error, as Go's `missingkey=error`);
//! - `{{ index . "claim.with/dots" }}`, optionally parenthesized (missing ⇒ empty, as Go);
//! - `"literal"` strings inside actions;
//! - `{{ if eq A B }}…{{ else }}…{{ end }}` and `{{ if A }}…{{ end }}` (non-empty is true).
//!
//! Anything else is refused when the issuer file is loaded, so a template that parses here
//! renders the same text as Fulcio's.

use std::collections::BTreeMap;

/// A template that failed to parse or to render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template uses syntax outside the supported subset, or is malformed.
    #[error("template `{template}`: {problem}")]
    Syntax {
        /// The template source.
        template: String,
        /// What is wrong.
        problem: String,
    },
    /// A `{{ .claim }}` names a value that is neither a claim nor a default.
    #[error("value {0} not present in either claims or defaults")]
    Missing(String),
}

/// A parsed template, ready to render against claim maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(String),
    Expr(Expr),
    If {
        cond: Cond,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Cond {
    Eq(Expr, Expr),
    Truthy(Expr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    /// `.name`: missing is an error.
    Field(String),
    /// `index . "name"`: missing is empty.
    Index(String),
    Literal(String),
}

/// An open block while parsing: the `if` condition (none for the template body), the nodes
/// of its `then` branch, and those of its `else` branch once `{{ else }}` was seen.
struct Block {
    cond: Option<Cond>,
    then: Vec<Node>,
    otherwise: Option<Vec<Node>>,
}

/// One `{{ … }}` action, classified.
enum Action {
    Expr(Expr),
    If(Cond),
    Else,
    End,
}

impl Template {
    /// Parses `source`, refusing any construct outside the subset.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let syntax = |problem: &str| TemplateError::Syntax {
            template: source.to_owned(),
            problem: problem.to_owned(),
        };
        // A stack of open blocks; the bottom is the template body.
        let mut stack = vec![Block {
            cond: None,
            then: Vec::new(),
            otherwise: None,
        }];
        let mut rest = source;
        while !rest.is_empty() {
            let (text, after) = match rest.find("{{") {
                Some(at) => (&rest[..at], Some(&rest[at + 2..])),
                None => (rest, None),
            };
            if !text.is_empty() {
                current(&mut stack).push(Node::Text(text.to_owned()));
            }
            let Some(after) = after else { break };
            let end = after.find("}}").ok_or_else(|| syntax("unclosed `{{`"))?;
            let action = parse_action(after[..end].trim()).map_err(|p| syntax(&p))?;
            rest = &after[end + 2..];
            match action {
                Action::Expr(expr) => current(&mut stack).push(Node::Expr(expr)),
                Action::If(cond) => stack.push(Block {
                    cond: Some(cond),
                    then: Vec::new(),
                    otherwise: None,
                }),
                Action::Else => {
                    let top = stack
                        .last_mut()
                        .ok_or_else(|| syntax("`else` outside `if`"))?;
                    if top.cond.is_none() || top.otherwise.is_some() {
                        return Err(syntax("`else` outside `if`"));
                    }
                    top.otherwise = Some(Vec::new());
                }
                Action::End => {
                    if stack.len() < 2 {
                        return Err(syntax("`end` without `if`"));
                    }
                    let block = stack.pop().expect("checked length above");
                    let cond = block
                        .cond
                        .expect("only `if` blocks are pushed above the body");
                    current(&mut stack).push(Node::If {
                        cond,
                        then: block.then,
                        otherwise: block.otherwise.unwrap_or_default(),
                    });
                }
            }
        }
        if stack.len() != 1 {
            return Err(syntax("`if` without `end`"));
        }
        let body = stack.pop().expect("the body is always on the stack");
        Ok(Template { nodes: body.then })
    }

    /// Renders the template against `data`.
    pub fn render(&self, data: &BTreeMap<String, String>) -> Result<String, TemplateError> {
        let mut out = String::new();
        render_nodes(&self.nodes, data, &mut out)?;
        Ok(out)
    }
}

/// The node list that new nodes are appended to: the `else` branch if one is open.
fn current(stack: &mut [Block]) -> &mut Vec<Node> {
    let top = stack.last_mut().expect("the body is always on the stack");
    match &mut top.otherwise {
        Some(otherwise) => otherwise,
        None => &mut top.then,
    }
}

fn parse_action(action: &str) -> Result<Action, String> {
    match action {
        "else" => return Ok(Action::Else),
        "end" => return Ok(Action::End),
        _ => {}
    }
    if action.starts_with('-') || action.ends_with('-') {
        return Err("whitespace trimming (`{{-`, `-}}`) is not supported".into());
    }
    let tokens = tokenize(action)?;
    if tokens.first().map(String::as_str) == Some("if") {
        let cond = match tokens.get(1).map(String::as_str) {
            Some("eq") => {
                let (a, used) = parse_expr(&tokens[2..])?;
                let (b, used2) = parse_expr(&tokens[2 + used..])?;
                if 2 + used + used2 != tokens.len() {
                    return Err("unexpected words after `eq A B`".into());
                }
                Cond::Eq(a, b)
            }
            Some(_) => {
                let (a, used) = parse_expr(&tokens[1..])?;
                if 1 + used != tokens.len() {
                    return Err("unexpected words in `if`".into());
                }
                Cond::Truthy(a)
            }
            None => return Err("`if` needs a condition".into()),
        };
        return Ok(Action::If(cond));
    }
    let (expr, used) = parse_expr(&tokens)?;
    if used != tokens.len() {
        return Err(format!("unsupported action `{action}`"));
    }
    Ok(Action::Expr(expr))
}

/// Parses one expression from the front of `tokens`; returns it and how many tokens it used.
fn parse_expr(tokens: &[String]) -> Result<(Expr, usize), String> {
    let first = tokens.first().ok_or("missing value")?;
    if first == "(" {
        let (inner, used) = parse_expr(&tokens[1..])?;
        if tokens.get(1 + used).map(String::as_str) != Some(")") {
            return Err("unbalanced parenthesis".into());
        }
        return Ok((inner, used + 2));
    }
    if first == "index" {
        if tokens.get(1).map(String::as_str) != Some(".") {
            return Err("only `index . \"key\"` is supported".into());
        }
        let key = tokens
            .get(2)
            .and_then(|t| literal(t))
            .ok_or("`index . ` needs a quoted key")?;
        return Ok((Expr::Index(key), 3));
    }
    if let Some(lit) = literal(first) {
        return Ok((Expr::Literal(lit), 1));
    }
    if let Some(name) = first.strip_prefix('.') {
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Ok((Expr::Field(name.to_owned()), 1));
        }
    }
    Err(format!("unsupported expression `{first}`"))
}

fn literal(token: &str) -> Option<String> {
    token
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .map(str::to_owned)
}

/// Splits an action into words, keeping quoted strings and parentheses as their own tokens.
fn tokenize(action: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' => {
                tokens.push(c.to_string());
                chars.next();
            }
            '"' => {
                chars.next();
                let mut s = String::from('"');
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => return Err("escapes in strings are not supported".into()),
                        Some(c) => s.push(c),
                        None => return Err("unterminated string".into()),
                    }
                }
                s.push('"');
                tokens.push(s);
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(word);
            }
        }
    }
    Ok(tokens)
}

fn eval(expr: &Expr, data: &BTreeMap<String, String>) -> Result<String, TemplateError> {
    match expr {
        Expr::Field(name) => data
            .get(name)
            .cloned()
            .ok_or_else(|| TemplateError::Missing(name.clone())),
        Expr::Index(name) => Ok(data.get(name).cloned().unwrap_or_default()),
        Expr::Literal(s) => Ok(s.clone()),
    }
}

fn render_nodes(
    nodes: &[Node],
    data: &BTreeMap<String, String>,
    out: &mut String,
) -> Result<(), TemplateError> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Expr(e) => out.push_str(&eval(e, data)?),
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                let holds = match cond {
                    Cond::Eq(a, b) => eval(a, data)? == eval(b, data)?,
                    Cond::Truthy(a) => !eval(a, data)?.is_empty(),
                };
                render_nodes(if holds { then } else { otherwise }, data, out)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn renders_the_templates_of_fulcios_public_config() {
        let d = data(&[
            ("url", "https://github.com"),
            (
                "job_workflow_ref",
                "o/r/.github/workflows/w.yml@refs/heads/main",
            ),
            ("ref_type", "branch"),
            ("ref", "main"),
            ("oidc.circleci.com/project-id", "p1"),
            ("oidc.circleci.com/ssh-rerun", "false"),
        ]);
        let cases = [
            (
                "{{ .url }}/{{ .job_workflow_ref }}",
                "https://github.com/o/r/.github/workflows/w.yml@refs/heads/main",
            ),
            (
                "refs/{{if eq .ref_type \"branch\"}}heads/{{ else }}tags/{{end}}{{ .ref }}",
                "refs/heads/main",
            ),
            (
                "{{.url}}/p/{{(index . \"oidc.circleci.com/project-id\")}}",
                "https://github.com/p/p1",
            ),
            (
                "{{if eq (index . \"oidc.circleci.com/ssh-rerun\") \"true\"}}ssh-rerun{{ else }}\"\"{{end}}",
                "\"\"",
            ),
            ("{{index . \"absent\"}}", ""),
        ];
        for (src, want) in cases {
            let t = Template::parse(src).unwrap();
            assert_eq!(t.render(&d).unwrap(), want, "{src}");
        }
    }

    #[test]
    fn tag_branch_of_the_gitlab_ref_template() {
        let t = Template::parse(
            "refs/{{if eq .ref_type \"branch\"}}heads/{{ else }}tags/{{end}}{{ .ref }}",
        )
        .unwrap();
        let d = data(&[("ref_type", "tag"), ("ref", "v1")]);
        assert_eq!(t.render(&d).unwrap(), "refs/tags/v1");
    }

    #[test]
    fn missing_field_is_an_error_naming_it() {
        let t = Template::parse("{{ .sha }}").unwrap();
        assert_eq!(
            t.render(&BTreeMap::new()),
            Err(TemplateError::Missing("sha".into()))
        );
    }

    #[test]
    fn unsupported_syntax_is_refused_at_parse_time() {
        for bad in [
            "{{ .a",
            "{{ range . }}{{ end }}",
            "{{ if .a }}x",
            "{{ end }}",
            "{{- .a }}",
            "{{ printf \"%s\" .a }}",
            "{{ .a.b }}",
            "{{ else }}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad} should not parse");
        }
    }
}
