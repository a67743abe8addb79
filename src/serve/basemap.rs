//! The optional online base map, chosen when the server starts (`sitefinder serve
//! --base-map-url TEMPLATE --base-map-attribution TEXT`; `GET /map-config` tells the page). Off
//! by default: the map then needs no internet, and draws place names from the shipped data.
//!
//! ```
//! use sitefinder::serve::basemap::BaseMap;
//! let b = BaseMap::from_flags(Some("https://tiles.example.org/{z}/{x}/{y}.png"), Some("© Example")).unwrap();
//! assert!(b.is_some());
//! assert!(BaseMap::from_flags(None, None).unwrap().is_none());
//! assert!(BaseMap::from_flags(Some("https://tiles.example.org/{z}/{x}/{y}.png"), None).is_err());
//! ```

/// A tile layer drawn under the data, with the attribution its provider asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseMap {
    /// A Leaflet tile URL template: `{z}`, `{x}`, `{y}` (or `{-y}`), optionally `{s}`, `{r}`.
    pub url: String,
    /// Shown in the map's attribution control (as text).
    pub attribution: String,
}

/// Why a base map cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BaseMapError {
    #[error("--base-map-url needs --base-map-attribution: the attribution the tiles' provider asks for, shown on the map")]
    NoAttribution,
    #[error("--base-map-attribution needs --base-map-url: the tile URL template it is the attribution of")]
    NoUrl,
    #[error("--base-map-url `{0}`: give an http(s) tile URL template with {{z}}, {{x}} and {{y}}, e.g. https://tile.example.org/{{z}}/{{x}}/{{y}}.png")]
    BadUrl(String),
    #[error("--base-map-attribution is {0} characters: give at most 500")]
    LongAttribution(usize),
}

impl BaseMap {
    /// The base map the two flags ask for: both (checked) or neither.
    pub fn from_flags(
        url: Option<&str>,
        attribution: Option<&str>,
    ) -> Result<Option<BaseMap>, BaseMapError> {
        let url = url.map(str::trim).filter(|s| !s.is_empty());
        let attribution = attribution.map(str::trim).filter(|s| !s.is_empty());
        match (url, attribution) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(BaseMapError::NoAttribution),
            (None, Some(_)) => Err(BaseMapError::NoUrl),
            (Some(u), Some(a)) => {
                let scheme = u.starts_with("https://") || u.starts_with("http://");
                let tiles = u.contains("{z}")
                    && u.contains("{x}")
                    && (u.contains("{y}") || u.contains("{-y}"));
                if !scheme || !tiles || u.chars().any(char::is_whitespace) {
                    return Err(BaseMapError::BadUrl(u.to_string()));
                }
                let n = a.chars().count();
                if n > 500 {
                    return Err(BaseMapError::LongAttribution(n));
                }
                Ok(Some(BaseMap {
                    url: u.to_string(),
                    attribution: a.to_string(),
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://{s}.tiles.example.org/{z}/{x}/{y}.png";

    #[test]
    fn both_flags_or_neither() {
        assert_eq!(
            BaseMap::from_flags(Some(URL), Some(" © Example contributors ")).unwrap(),
            Some(BaseMap {
                url: URL.into(),
                attribution: "© Example contributors".into()
            })
        );
        assert_eq!(BaseMap::from_flags(None, Some("  ")), Ok(None));
        assert_eq!(
            BaseMap::from_flags(Some(URL), Some("")),
            Err(BaseMapError::NoAttribution)
        );
        assert_eq!(
            BaseMap::from_flags(None, Some("© Example")),
            Err(BaseMapError::NoUrl)
        );
    }

    #[test]
    fn the_url_must_be_a_tile_template() {
        for bad in [
            "tiles.example.org/{z}/{x}/{y}.png",
            "https://tiles.example.org/tile.png",
            "https://tiles.example.org/{z}/{x}.png",
            "file:///tmp/{z}/{x}/{y}.png",
            "https://tiles.example.org/{z}/{x}/{y}.png extra",
        ] {
            let e = BaseMap::from_flags(Some(bad), Some("© Example")).unwrap_err();
            assert!(matches!(e, BaseMapError::BadUrl(_)), "{bad}: {e}");
        }
        assert!(
            BaseMap::from_flags(Some("http://localhost:8081/{z}/{x}/{-y}.png"), Some("© Me"))
                .is_ok()
        );
        let long = "x".repeat(501);
        assert_eq!(
            BaseMap::from_flags(Some(URL), Some(&long)),
            Err(BaseMapError::LongAttribution(501))
        );
    }
}
