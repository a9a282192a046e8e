"""One measured run: worker, generator, recorder, gates, histograms, and the runner."""
