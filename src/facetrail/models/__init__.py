"""facetrail.models"""
