"""Pure certification rules: catalogue, levels, certificates, cadre projection. No I/O."""
