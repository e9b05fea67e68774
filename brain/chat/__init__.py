"""Reading chat: message classification, sentiment and their lexicons."""
