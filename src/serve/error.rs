//! The one error shape of the API, `{code, message}`, and how each library error maps to a
//! status: by its type, never by its text.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::analysis::optimise::OptimiseError;
use crate::analysis::rank::RankError;
use crate::engine::query::PagingError;
use crate::engine::search::SearchError;
use crate::engine::{EngineError, Param};
use crate::export::table::OutputError;
use crate::export::ExportError;
use crate::ingest::overlay::OverlayError;
use crate::store::StoreError;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    /// A bad parameter: the message starts with its name.
    pub fn bad(param: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "bad_parameter",
            message: format!("{param}: {message}"),
        }
    }

    pub fn not_found(message: String) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message,
        }
    }

    pub fn internal(message: impl std::fmt::Display) -> ApiError {
        tracing::error!("internal error: {message}");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: message.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"code": self.code, "message": self.message})),
        )
            .into_response()
    }
}

impl From<RankError> for ApiError {
    fn from(e: RankError) -> ApiError {
        ApiError::bad(e.param(), e)
    }
}

impl From<PagingError> for ApiError {
    fn from(e: PagingError) -> ApiError {
        ApiError::bad(e.param(), e)
    }
}

impl From<OptimiseError> for ApiError {
    fn from(e: OptimiseError) -> ApiError {
        ApiError::bad(e.param(), e)
    }
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> ApiError {
        match e {
            SearchError::Data(_) | SearchError::Crs(_) => ApiError::internal(e),
            _ => ApiError::bad(e.param(), e),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::UnknownIds { .. } | EngineError::NoIds => ApiError::bad(e.param(), e),
            other => ApiError::internal(other),
        }
    }
}

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> ApiError {
        match e {
            ExportError::MissingUnits { .. } | ExportError::BadWeights { .. } => ApiError {
                status: StatusCode::CONFLICT,
                code: "conflict",
                message: e.to_string(),
            },
            ExportError::Write { .. } => ApiError::internal(e),
            ExportError::TooManySites { .. } | ExportError::TooManyRows { .. } => {
                ApiError::bad("format", e)
            }
        }
    }
}

impl From<OutputError> for ApiError {
    fn from(e: OutputError) -> ApiError {
        ApiError::internal(e)
    }
}

impl From<OverlayError> for ApiError {
    fn from(e: OverlayError) -> ApiError {
        let too_large = matches!(e, OverlayError::TooLarge { .. });
        ApiError {
            status: if too_large {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            },
            code: if too_large { "too_large" } else { "bad_upload" },
            message: e.to_string(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let (status, code) = match &e {
            StoreError::NoShortlist { .. }
            | StoreError::NoSite { .. }
            | StoreError::NoOverlay { .. } => (StatusCode::NOT_FOUND, "not_found"),
            StoreError::ShortlistExists(_) | StoreError::OverlayExists(_) => {
                (StatusCode::CONFLICT, "conflict")
            }
            StoreError::BadName { .. } | StoreError::NoteTooLong { .. } => {
                (StatusCode::BAD_REQUEST, "bad_parameter")
            }
            StoreError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError {
            status,
            code,
            message: e.to_string(),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        ApiError::internal(e)
    }
}
