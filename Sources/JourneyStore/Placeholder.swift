public enum JourneyStoreModule {}
