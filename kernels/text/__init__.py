"""Clinical language and sequence models: tokenisation, datasets, word2vec, LSTM, seq2seq.

Submodules import TensorFlow or gensim only when their functions run; importing this package is
cheap.
"""
