"""The generated files, byte for byte as ``generated/`` holds them (links in the source tree,
copies in a wheel).  Import them through :mod:`initref.numpy`, :mod:`initref.torch`, ..."""
