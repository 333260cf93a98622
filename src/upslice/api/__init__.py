"""HTTP front ends over the engine: they translate, they hold no state."""
