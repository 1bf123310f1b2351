//! A tiny std-only crate for the avfs quick start and end-to-end tests.

/// Greets someone by name.
pub fn greet(name: &str) -> String {
    format!("hello, {name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets() {
        assert_eq!(greet("agent"), "hello, agent");
    }
}
