//! Resolving user parameters (`--param k=v`) against a plugin's declared
//! parameters: type, range, unknown names. The plugin's own `init` may still
//! refuse a combination; both kinds of error name the parameter.

use crate::sandbox::runtime::{Description, ParamSpec, ParamType, ParamValue};

/// Why parameters were refused before the plugin saw them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// Not of the form `name=value`.
    #[error("parameter `{0}` is not of the form name=value")]
    Syntax(String),
    /// The plugin declares no such parameter.
    #[error("plugin {plugin} has no parameter `{name}` (it declares: {declared})")]
    Unknown {
        /// Plugin label.
        plugin: String,
        /// Given name.
        name: String,
        /// Declared names.
        declared: String,
    },
    /// The value does not parse as the declared type.
    #[error("parameter `{name}` of {plugin}: {value:?} is not a valid {ty}")]
    Type {
        /// Plugin label.
        plugin: String,
        /// Name.
        name: String,
        /// Given text.
        value: String,
        /// Expected type.
        ty: &'static str,
    },
    /// Outside the declared range.
    #[error("parameter `{name}` of {plugin}: {value} is outside the allowed range [{min}, {max}]")]
    Range {
        /// Plugin label.
        plugin: String,
        /// Name.
        name: String,
        /// Value.
        value: f64,
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
}

/// The name of a parameter type, as shown and stored.
pub fn type_name(t: ParamType) -> &'static str {
    match t {
        ParamType::Integer => "integer",
        ParamType::Float => "float",
        ParamType::Boolean => "boolean",
        ParamType::Text => "text",
    }
}

/// The parameter type of a name written by [`type_name`].
pub fn parse_type(name: &str) -> Option<ParamType> {
    match name {
        "integer" => Some(ParamType::Integer),
        "float" => Some(ParamType::Float),
        "boolean" => Some(ParamType::Boolean),
        "text" => Some(ParamType::Text),
        _ => None,
    }
}

/// Render a value the way a user would type it.
pub fn display(v: &ParamValue) -> String {
    match v {
        ParamValue::Integer(i) => i.to_string(),
        ParamValue::Float(f) => f.to_string(),
        ParamValue::Boolean(b) => b.to_string(),
        ParamValue::Text(t) => t.clone(),
    }
}

/// Every declared parameter with the user's value or its default, in
/// declaration order.
pub fn resolve(
    desc: &Description,
    given: &[String],
) -> Result<Vec<(String, ParamValue)>, ParamError> {
    let plugin = format!("{}@{}", desc.name, desc.version);
    let mut values: Vec<(String, ParamValue)> = desc
        .params
        .iter()
        .map(|p| (p.name.clone(), p.default.clone()))
        .collect();
    for kv in given {
        let (name, text) = kv
            .split_once('=')
            .ok_or_else(|| ParamError::Syntax(kv.clone()))?;
        let (name, text) = (name.trim(), text.trim());
        let Some(i) = desc.params.iter().position(|p| p.name == name) else {
            return Err(ParamError::Unknown {
                plugin,
                name: name.into(),
                declared: desc
                    .params
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        values[i].1 = check(&desc.params[i], text, &plugin)?;
    }
    Ok(values)
}

/// One value for one declared parameter (`plugin` names the plugin in the
/// error): the declared type, and inside the declared range.
pub fn check(spec: &ParamSpec, text: &str, plugin: &str) -> Result<ParamValue, ParamError> {
    let bad = || ParamError::Type {
        plugin: plugin.into(),
        name: spec.name.clone(),
        value: text.into(),
        ty: type_name(spec.type_),
    };
    let value = match spec.type_ {
        ParamType::Integer => ParamValue::Integer(text.parse().map_err(|_| bad())?),
        ParamType::Float => {
            let f: f64 = text.parse().map_err(|_| bad())?;
            if !f.is_finite() {
                return Err(bad());
            }
            ParamValue::Float(f)
        }
        ParamType::Boolean => ParamValue::Boolean(text.parse().map_err(|_| bad())?),
        ParamType::Text => ParamValue::Text(text.into()),
    };
    let numeric = match value {
        ParamValue::Integer(i) => Some(i as f64),
        ParamValue::Float(f) => Some(f),
        _ => None,
    };
    if let Some(v) = numeric {
        let (min, max) = (
            spec.min.unwrap_or(f64::NEG_INFINITY),
            spec.max.unwrap_or(f64::INFINITY),
        );
        if v < min || v > max {
            return Err(ParamError::Range {
                plugin: plugin.into(),
                name: spec.name.clone(),
                value: v,
                min,
                max,
            });
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::runtime::DeclaredDelivery as Delivery;

    fn desc() -> Description {
        Description {
            name: "s".into(),
            version: "1.0.0".into(),
            sdk_version: "0.1.0".into(),
            params: vec![ParamSpec {
                name: "fast".into(),
                type_: ParamType::Integer,
                default: ParamValue::Integer(10),
                min: Some(1.0),
                max: Some(100.0),
                doc: String::new(),
            }],
            delivery: Delivery::PerBar,
        }
    }

    #[test]
    fn defaults_fill_in_and_values_are_checked() {
        assert_eq!(
            resolve(&desc(), &[]).unwrap(),
            vec![("fast".into(), ParamValue::Integer(10))]
        );
        assert_eq!(
            resolve(&desc(), &["fast=12".into()]).unwrap()[0].1,
            ParamValue::Integer(12)
        );
        let e = resolve(&desc(), &["fast=200".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside the allowed range [1, 100]"), "{e}");
        let e = resolve(&desc(), &["fast=1.5".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a valid integer"), "{e}");
        let e = resolve(&desc(), &["slow=3".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no parameter `slow` (it declares: fast)"), "{e}");
        assert!(matches!(
            resolve(&desc(), &["fast".into()]),
            Err(ParamError::Syntax(_))
        ));
    }
}
