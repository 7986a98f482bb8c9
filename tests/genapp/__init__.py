"""An app with an ``imagegenerators`` module, installed only by the autodiscovery test."""
