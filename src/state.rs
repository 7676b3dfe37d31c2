//! What every handler can reach: the answer cache (and through it the domain), the metrics and
//! the settings.

use std::sync::Arc;

use crate::cache::AnswerCache;
use crate::metrics::Metrics;
use crate::settings::Settings;

pub struct AppState {
    pub cache: AnswerCache,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<Settings>,
}
