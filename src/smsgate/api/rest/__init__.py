"""api/rest"""
