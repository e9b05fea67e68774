"""Traffic: activity series, forecasts, anomalies, stream-time slots, evaluation, plots, the promo gate, time phrases."""
