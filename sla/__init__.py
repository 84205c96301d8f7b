"""SLA: policies of terms, the Russian working-time calendar and the per-case timers."""
