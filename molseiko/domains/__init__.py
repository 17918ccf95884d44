"""What a design is: molecules (RDKit) and, later, protein sequences."""
