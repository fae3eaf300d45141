"""Text in, ids out: reading and checking text, the vocabulary, named corpora, the id cache."""
