"""One differentiable operation per file: each defines a Function subclass
(forward and hand-derived backward side by side) and a plain function that
applies it. The public entry point is :mod:`minialex.functional`."""
