"""Audio-driven motion generators trained per identity on its own frames: Talk2Me's Expression
Generator (:mod:`talkgs.motion.expression`)."""
