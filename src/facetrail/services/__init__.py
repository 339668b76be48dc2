"""facetrail.services"""
