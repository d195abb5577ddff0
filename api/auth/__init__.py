"""Who is calling: institution API tokens (scoped), patient sign-in challenges and short-lived patient sessions."""
