"""Face analysis: landmarks, semantic parsing and matting (DESIGN.md, step 2)."""
