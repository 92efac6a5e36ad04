//! The environment as every settings reader sees it: a lookup function
//! passed in, so tests give exactly the environment they mean, with the
//! SDKs' convention that an empty value counts as unset.

/// A lookup in the environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// `name`'s value, unless unset or blank.
pub fn var(env: Env, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty())
}

/// The first of `names` that is set, as `(name, value)`.
pub fn first_var(env: Env, names: &[&str]) -> Option<(String, String)> {
    names
        .iter()
        .find_map(|n| var(env, n).map(|v| (n.to_string(), v)))
}
